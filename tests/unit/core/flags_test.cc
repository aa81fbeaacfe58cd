// FlagRegistry (core/flags.h): the layers' precedence (command line > RINGCAST_* environment >
// --config file > defaults), the exit statuses, switches, secret files and checks, on a module
// of its own as the real ones register theirs.
#include "core/flags.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "tests/unit/support/parse_flags.h"

namespace ringcast {
namespace {

struct TestOptions {
  uint16_t port = 8080;
  std::string name = "default";
  bool feature = true;
  std::string token;
  uint32_t low = 1;
  uint32_t high = 10;
};

void RegisterTestFlags(FlagRegistry& flags, TestOptions* options) {
  // The variables are named here (RINGCAST_TEST_*) so that no real one can reach the test.
  flags.Add({
      {"port", &options->port, "A port", CLI::Range(1, 65535), "RINGCAST_TEST_PORT"},
      {"name", &options->name, "A name", std::nullopt, "RINGCAST_TEST_NAME"},
      {"feature", &options->feature, "A switch", std::nullopt, "RINGCAST_TEST_FEATURE"},
      {"token", &options->token, "A secret", std::nullopt, "RINGCAST_TEST_TOKEN"},
      {"low", &options->low, "At most --high", std::nullopt, "RINGCAST_TEST_LOW"},
      {"high", &options->high, "At least --low", std::nullopt, "RINGCAST_TEST_HIGH"},
  });
  flags.AddSecretFile({"token", "--token-file", "RINGCAST_TEST_TOKEN_FILE"});
  flags.AddCheck([options] {
    if (options->low > options->high) {
      std::fprintf(stderr, "ringcast: --low must be at most --high\n");
      return false;
    }
    return true;
  });
}

class FlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ringcast-flags-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    for (const char* name :
         {"RINGCAST_TEST_PORT", "RINGCAST_TEST_NAME", "RINGCAST_TEST_FEATURE",
          "RINGCAST_TEST_TOKEN", "RINGCAST_TEST_TOKEN_FILE", "RINGCAST_CONFIG"}) {
      unsetenv(name);
    }
    std::filesystem::remove_all(dir_);
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    std::filesystem::path path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  // Parses `args` (after argv[0]); the status, with stderr in *err when given.
  int Parse(std::vector<std::string> args, TestOptions* options, std::string* err = nullptr) {
    FlagRegistry flags("test", [] {});
    RegisterTestFlags(flags, options);
    return ringcast::testing::ParseFlags(flags, std::move(args), &stdout_, err);
  }

  std::filesystem::path dir_;
  std::string stdout_;
};

TEST_F(FlagsTest, DefaultsStandWhenNothingIsGiven) {
  TestOptions options;
  EXPECT_EQ(Parse({}, &options), -1);
  EXPECT_EQ(options.port, 8080);
  EXPECT_EQ(options.name, "default");
  EXPECT_TRUE(options.feature);
}

TEST_F(FlagsTest, CommandLineBeatsEnvironmentBeatsFile) {
  const std::string file = WriteFile("a.toml", "port = 1001\nname = \"from-file\"\n");
  setenv("RINGCAST_TEST_PORT", "1002", 1);
  TestOptions all;
  EXPECT_EQ(Parse({"--config", file, "--port", "1003"}, &all), -1);
  EXPECT_EQ(all.port, 1003);
  EXPECT_EQ(all.name, "from-file");
  TestOptions env_and_file;
  EXPECT_EQ(Parse({"--config", file}, &env_and_file), -1);
  EXPECT_EQ(env_and_file.port, 1002);
  unsetenv("RINGCAST_TEST_PORT");
  TestOptions file_only;
  setenv("RINGCAST_CONFIG", file.c_str(), 1);  // --config's own variable.
  EXPECT_EQ(Parse({}, &file_only), -1);
  EXPECT_EQ(file_only.port, 1001);
}

TEST_F(FlagsTest, BadValuesExitTwoWithOneLine) {
  TestOptions options;
  std::string err;
  EXPECT_EQ(Parse({"--port", "abc"}, &options, &err), 2);
  EXPECT_EQ(err, "ringcast: --port: 'abc' is not a number (see --help)\n");
  EXPECT_EQ(Parse({"--port", "0"}, &options, &err), 2);
  EXPECT_EQ(err, "ringcast: --port: Value 0 not in range 1 to 65535 (see --help)\n");
  setenv("RINGCAST_TEST_PORT", "70000", 1);
  EXPECT_EQ(Parse({}, &options, &err), 2);
  EXPECT_NE(err.find("not in range"), std::string::npos) << err;
  unsetenv("RINGCAST_TEST_PORT");
  const std::string file = WriteFile("bad.toml", "\nport = 99999\n");
  EXPECT_EQ(Parse({"--config", file}, &options, &err), 2);
  EXPECT_EQ(err.rfind("ringcast: " + file + ":2: port: ", 0), 0u) << err;
  const std::string unknown = WriteFile("unknown.toml", "colour = blue\n");
  EXPECT_EQ(Parse({"--config", unknown}, &options, &err), 2);
  EXPECT_NE(err.find("unknown key 'colour'"), std::string::npos) << err;
  EXPECT_EQ(Parse({"--no-such-flag"}, &options, &err), 2);
}

TEST_F(FlagsTest, ChecksSeeEveryLayerAndFailWithTwo) {
  const std::string file = WriteFile("range.toml", "low = 20\n");
  TestOptions options;
  std::string err;
  EXPECT_EQ(Parse({"--config", file}, &options, &err), 2);
  EXPECT_EQ(err, "ringcast: --low must be at most --high\n");
  TestOptions fixed;
  EXPECT_EQ(Parse({"--config", file, "--high", "30"}, &fixed), -1);
  EXPECT_EQ(fixed.low, 20u);
}

TEST_F(FlagsTest, SwitchesTakeBothFormsAndTheirVariable) {
  TestOptions off;
  EXPECT_EQ(Parse({"--no-feature"}, &off), -1);
  EXPECT_FALSE(off.feature);
  setenv("RINGCAST_TEST_FEATURE", "false", 1);
  TestOptions env_off;
  EXPECT_EQ(Parse({}, &env_off), -1);
  EXPECT_FALSE(env_off.feature);
  TestOptions flag_on;
  EXPECT_EQ(Parse({"--feature"}, &flag_on), -1);
  EXPECT_TRUE(flag_on.feature);
}

TEST_F(FlagsTest, SecretFilesAndPrintConfig) {
  const std::string secret = WriteFile("token", "s3cret\n");
  TestOptions options;
  EXPECT_EQ(Parse({"--token-file", secret}, &options), -1);
  EXPECT_EQ(options.token, "s3cret");  // Less its trailing newline.
  std::string err;
  TestOptions both;
  EXPECT_EQ(Parse({"--token-file", secret, "--token", "x"}, &both, &err), 2);
  EXPECT_NE(err.find("both given at the same level"), std::string::npos) << err;
  TestOptions printed;
  EXPECT_EQ(Parse({"--print-config", "--port", "1234", "--token-file", secret}, &printed), 0);
  EXPECT_NE(stdout_.find("\nport = 1234\n"), std::string::npos) << stdout_;
  EXPECT_NE(stdout_.find("\n# token: read from token-file\n"), std::string::npos) << stdout_;
  EXPECT_EQ(stdout_.find("s3cret"), std::string::npos) << stdout_;
}

TEST_F(FlagsTest, VariableNameComesFromTheFlagUnlessGiven) {
  uint32_t derived = 1;
  bool derived_switch = false;
  std::string named;
  FlagRegistry flags("test", [] {});
  flags.Add({
      {"test-derived-count", &derived, "A number"},
      {"test-derived-switch", &derived_switch, "A switch"},
      {"test-named", &named, "A string", std::nullopt, "RINGCAST_TEST_OTHER_NAME"},
  });
  setenv("RINGCAST_TEST_DERIVED_COUNT", "7", 1);
  setenv("RINGCAST_TEST_DERIVED_SWITCH", "true", 1);
  setenv("RINGCAST_TEST_NAMED", "ignored", 1);
  setenv("RINGCAST_TEST_OTHER_NAME", "read", 1);
  const int status = ringcast::testing::ParseFlags(flags, {}, nullptr, nullptr);
  for (const char* name : {"RINGCAST_TEST_DERIVED_COUNT", "RINGCAST_TEST_DERIVED_SWITCH",
                           "RINGCAST_TEST_NAMED", "RINGCAST_TEST_OTHER_NAME"}) {
    unsetenv(name);
  }
  EXPECT_EQ(status, -1);
  EXPECT_EQ(derived, 7u);
  EXPECT_TRUE(derived_switch);
  EXPECT_EQ(named, "read");
}

TEST_F(FlagsTest, HelpListsEveryFlagAndExitsZero) {
  TestOptions options;
  EXPECT_EQ(Parse({"--help"}, &options), 0);
  for (const char* flag : {"--port", "--name", "--feature", "--no-feature", "--token-file",
                           "--config", "--print-config", "--version"}) {
    EXPECT_NE(stdout_.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace ringcast
