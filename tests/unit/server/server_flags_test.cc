// RegisterServerFlags (server/server_flags.h): every module's flags land in its own part of
// chat::Config, and the rule across modules (cluster mode needs a shared store) exits 2.
#include "server/server_flags.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <utility>
#include <vector>

#include "tests/unit/support/parse_flags.h"

namespace ringcast::server {
namespace {

int Parse(std::vector<std::string> args, chat::Config* config, std::string* err = nullptr) {
  FlagRegistry flags("test", [] {});
  RegisterServerFlags(flags, config);
  return ringcast::testing::ParseFlags(flags, std::move(args), nullptr, err);
}

TEST(ServerFlagsTest, EachModuleGetsItsOwnFlags) {
  setenv("RINGCAST_MSG_RATE", "7", 1);
  chat::Config config;
  ASSERT_EQ(Parse({"--host", "127.0.0.1", "--port", "9100", "--threads", "3", "--log-level",
                   "debug", "--metrics-port", "9101", "--database-url", "postgres://h/db",
                   "--redis", "redis://127.0.0.1:6379", "--notify-delay", "250",
                   "--trusted-proxies", "10.0.0.0/8", "--no-raw-channels"},
                  &config),
            -1);
  unsetenv("RINGCAST_MSG_RATE");
  const NetOptions& net = config;
  EXPECT_EQ(net.port, 9100);
  EXPECT_FALSE(net.trusted_proxies.empty());
  EXPECT_EQ(static_cast<const RuntimeOptions&>(config).threads, 3u);
  EXPECT_EQ(static_cast<const LoggingOptions&>(config).log_level, "debug");
  EXPECT_EQ(static_cast<const MetricsOptions&>(config).metrics_port, 9101);
  EXPECT_EQ(static_cast<const storage::StoreOptions&>(config).database_url, "postgres://h/db");
  EXPECT_EQ(static_cast<const cluster::ClusterOptions&>(config).redis_url,
            "redis://127.0.0.1:6379");
  EXPECT_EQ(static_cast<const notify::NotifyOptions&>(config).notify_delay_ms, 250u);
  EXPECT_EQ(static_cast<const chat::ChatOptions&>(config).msg_rate, 7u);
  EXPECT_FALSE(config.raw_channels);
}

TEST(ServerFlagsTest, ClusterModeNeedsASharedStore) {
  chat::Config config;
  std::string err;
  EXPECT_EQ(Parse({"--redis", "redis://127.0.0.1:6379"}, &config, &err), 2);
  EXPECT_EQ(err.rfind("ringcast: --redis (cluster mode) needs --database-url", 0), 0u) << err;
}

}  // namespace
}  // namespace ringcast::server
