#include "files/s3_credentials.h"

#include <fstream>
#include <sstream>

namespace ringcast::files {
namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

// Complete (both keys), absent (neither), or an error.
bool CheckPair(const SigV4Credentials& credentials, std::string_view where, std::string* error) {
  if (credentials.access_key.empty() != credentials.secret_key.empty()) {
    *error =
        std::string(where) + " has an access key without its secret, or a secret without its key";
    return false;
  }
  return true;
}

}  // namespace

std::optional<SigV4Credentials> ParseCredentialsFile(std::string_view text,
                                                     std::string_view profile) {
  std::optional<SigV4Credentials> found;
  bool in_profile = false;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = Trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      in_profile = Trim(line.substr(1, line.size() - 2)) == profile;
      if (in_profile && !found) found.emplace();
      continue;
    }
    const size_t equals = line.find('=');
    if (!in_profile || equals == std::string_view::npos) continue;
    const std::string_view name = Trim(line.substr(0, equals));
    const std::string value(Trim(line.substr(equals + 1)));
    if (name == "aws_access_key_id") found->access_key = value;
    if (name == "aws_secret_access_key") found->secret_key = value;
    if (name == "aws_session_token") found->session_token = value;
  }
  return found;
}

std::optional<FoundCredentials> FindCredentials(
    const CredentialSources& sources, const std::function<const char*(const char*)>& getenv,
    std::string* error) {
  const auto env = [&](const char* name) {
    const char* value = getenv(name);
    return value == nullptr ? std::string() : std::string(value);
  };
  if (!CheckPair(sources.given, "the flags", error)) return std::nullopt;
  if (!sources.given.access_key.empty()) return FoundCredentials{sources.given, "flags"};

  const SigV4Credentials from_env{.access_key = env("AWS_ACCESS_KEY_ID"),
                                  .secret_key = env("AWS_SECRET_ACCESS_KEY"),
                                  .session_token = env("AWS_SESSION_TOKEN")};
  if (!CheckPair(from_env, "the environment", error)) return std::nullopt;
  if (!from_env.access_key.empty()) return FoundCredentials{from_env, "environment"};

  // A file or profile named explicitly must exist; the default one may not.
  const bool named =
      !sources.credentials_file.empty() || !env("AWS_SHARED_CREDENTIALS_FILE").empty();
  std::string path = sources.credentials_file;
  if (path.empty()) path = env("AWS_SHARED_CREDENTIALS_FILE");
  if (path.empty() && !env("HOME").empty()) path = env("HOME") + "/.aws/credentials";
  std::string profile = sources.profile;
  if (profile.empty()) profile = env("AWS_PROFILE");
  const bool profile_named = !profile.empty();
  if (profile.empty()) profile = "default";
  if (!path.empty()) {
    std::ifstream file(path);
    if (!file) {
      if (named) {
        *error = "cannot read the credentials file " + path;
        return std::nullopt;
      }
    } else {
      std::stringstream text;
      text << file.rdbuf();
      const std::string where = path + " [" + profile + "]";
      auto keys = ParseCredentialsFile(text.str(), profile);
      if (!keys && profile_named) {
        *error = "no profile [" + profile + "] in " + path;
        return std::nullopt;
      }
      if (keys) {
        if (!CheckPair(*keys, where, error)) return std::nullopt;
        if (!keys->access_key.empty()) return FoundCredentials{*keys, where};
      }
    }
  }
  *error =
      "no S3 credentials: none given, none in the environment (AWS_ACCESS_KEY_ID and "
      "AWS_SECRET_ACCESS_KEY), none in a credentials file (~/.aws/credentials)";
  return std::nullopt;
}

}  // namespace ringcast::files
