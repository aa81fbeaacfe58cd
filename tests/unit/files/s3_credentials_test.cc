#include "files/s3_credentials.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <map>

namespace ringcast::files {
namespace {

class Environment {
 public:
  Environment(std::initializer_list<std::pair<const std::string, std::string>> values)
      : values_(values) {}
  std::function<const char*(const char*)> lookup() const {
    return [this](const char* name) -> const char* {
      auto it = values_.find(name);
      return it == values_.end() ? nullptr : it->second.c_str();
    };
  }

 private:
  std::map<std::string, std::string> values_;
};

std::string WriteFile(const std::string& text) {
  char path[] = "/tmp/credsXXXXXX";
  const int fd = mkstemp(path);
  EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  return path;
}

constexpr std::string_view kFile =
    "# a comment\n"
    "[default]\n"
    "aws_access_key_id = DEFAULTKEY\n"
    "aws_secret_access_key=defaultsecret\r\n"
    "\n"
    "[ci]\n"
    "aws_access_key_id = CIKEY\n"
    "aws_secret_access_key = cisecret\n"
    "aws_session_token = citoken\n"
    "[half]\n"
    "aws_access_key_id = HALF\n";

TEST(S3CredentialsTest, ProfilesOfASharedFile) {
  auto keys = ParseCredentialsFile(kFile, "default");
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->access_key, "DEFAULTKEY");
  EXPECT_EQ(keys->secret_key, "defaultsecret");
  EXPECT_EQ(keys->session_token, "");
  keys = ParseCredentialsFile(kFile, "ci");
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->session_token, "citoken");
  EXPECT_FALSE(ParseCredentialsFile(kFile, "other"));
}

TEST(S3CredentialsTest, FlagsThenEnvironmentThenFile) {
  const std::string path = WriteFile(std::string(kFile));
  std::string error;
  Environment env{{"AWS_ACCESS_KEY_ID", "ENVKEY"},
                  {"AWS_SECRET_ACCESS_KEY", "envsecret"},
                  {"AWS_SHARED_CREDENTIALS_FILE", path}};
  CredentialSources sources{.given = {.access_key = "FLAGKEY", .secret_key = "flagsecret"}};
  auto found = FindCredentials(sources, env.lookup(), &error);
  ASSERT_TRUE(found) << error;
  EXPECT_EQ(found->credentials.access_key, "FLAGKEY");
  EXPECT_EQ(found->source, "flags");

  found = FindCredentials({}, env.lookup(), &error);
  ASSERT_TRUE(found) << error;
  EXPECT_EQ(found->credentials.access_key, "ENVKEY");
  EXPECT_EQ(found->source, "environment");

  Environment file_only{{"AWS_SHARED_CREDENTIALS_FILE", path}, {"AWS_PROFILE", "ci"}};
  found = FindCredentials({}, file_only.lookup(), &error);
  ASSERT_TRUE(found) << error;
  EXPECT_EQ(found->credentials.access_key, "CIKEY");
  EXPECT_EQ(found->source, path + " [ci]");
  found = FindCredentials({.credentials_file = path}, Environment{}.lookup(), &error);
  ASSERT_TRUE(found) << error;
  EXPECT_EQ(found->credentials.access_key, "DEFAULTKEY");
  unlink(path.c_str());
}

TEST(S3CredentialsTest, HalfAPairOrAMissingNamedSourceIsAnError) {
  const std::string path = WriteFile(std::string(kFile));
  std::string error;
  EXPECT_FALSE(
      FindCredentials({.given = {.access_key = "ONLYKEY"}}, Environment{}.lookup(), &error));
  EXPECT_NE(error.find("the flags"), std::string::npos);
  EXPECT_FALSE(FindCredentials({}, Environment{{"AWS_SECRET_ACCESS_KEY", "s"}}.lookup(), &error));
  EXPECT_NE(error.find("the environment"), std::string::npos);
  EXPECT_FALSE(FindCredentials({.credentials_file = path, .profile = "half"},
                               Environment{}.lookup(), &error));
  EXPECT_NE(error.find("[half]"), std::string::npos);
  EXPECT_FALSE(FindCredentials({.credentials_file = path, .profile = "nope"},
                               Environment{}.lookup(), &error));
  EXPECT_EQ(error, "no profile [nope] in " + path);
  EXPECT_FALSE(
      FindCredentials({.credentials_file = "/nonexistent/creds"}, Environment{}.lookup(), &error));
  EXPECT_EQ(error, "cannot read the credentials file /nonexistent/creds");
  // Nothing anywhere (no HOME, so no default file).
  EXPECT_FALSE(FindCredentials({}, Environment{}.lookup(), &error));
  EXPECT_NE(error.find("no S3 credentials"), std::string::npos);
  unlink(path.c_str());
}

}  // namespace
}  // namespace ringcast::files
