// The log line formats (text, JSON), per-call-site rate limiting through LogMessage with a fake
// clock, and LogPump's batching and reports of dropped and held-back lines.
#include "core/log.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringcast {
namespace {

constexpr int64_t kSecond = LogRateState::kIntervalNs;

struct Captured {
  std::vector<std::pair<LogStream, std::string>> writes;
  static void Write(void* context, LogStream stream, std::string_view lines) {
    static_cast<Captured*>(context)->writes.emplace_back(stream, std::string(lines));
  }
  std::string All() const {
    std::string all;
    for (const auto& write : writes) all += write.second;
    return all;
  }
};

class LogTest : public ::testing::Test {
 protected:
  void TearDown() override {
    SetLogFormat(LogFormat::kText);
    SetLogShard(-1);
  }
  std::vector<std::string> Lines() {
    Captured captured;
    LogPump(buffer_, &Captured::Write, &captured).Drain();
    std::vector<std::string> lines;
    std::string all = captured.All();
    for (size_t start = 0; start < all.size();) {
      size_t end = all.find('\n', start);
      lines.push_back(all.substr(start, end - start));
      start = end + 1;
    }
    return lines;
  }
  LogBuffer buffer_{64};
};

TEST_F(LogTest, JsonLineHasTimeLevelShardEventSourceAndMessage) {
  static LogSite site{"/src/core/runtime/shard_conn.cc", 41};
  SetLogFormat(LogFormat::kJson);
  SetLogShard(3);
  ASSERT_TRUE(LogMessage(site, LogLevel::kInfo, 0, "say \"hi\"\n\tback\\slash", &buffer_));
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  const std::string& line = lines[0];
  EXPECT_EQ(line.rfind("{\"time\":\"20", 0), 0u) << line;
  EXPECT_NE(
      line.find("Z\",\"level\":\"info\",\"shard\":3,\"event\":\"runtime.shard_conn\","
                "\"src\":\"shard_conn.cc:41\",\"msg\":\"say \\\"hi\\\"\\n\\tback\\\\slash\"}"),
      std::string::npos)
      << line;
}

TEST_F(LogTest, NoShardMemberOffShardThreads) {
  static LogSite site{"chat/service.cc", 7};
  SetLogFormat(LogFormat::kJson);
  ASSERT_TRUE(LogMessage(site, LogLevel::kError, 0, "x", &buffer_));
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].find("\"shard\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"event\":\"chat.service\""), std::string::npos) << lines[0];
}

TEST_F(LogTest, TextLineIsTimeLevelMessage) {
  static LogSite site{"core/main.cc", 1};
  ASSERT_TRUE(LogMessage(site, LogLevel::kWarn, 0, "disk on fire", &buffer_));
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].size(), std::string("2026-11-22T18:27:27.123Z warn  disk on fire").size());
  EXPECT_EQ(lines[0].substr(24), " warn  disk on fire");
}

TEST_F(LogTest, OverlongJsonLineIsCutButStillOneObject) {
  static LogSite site{"core/main.cc", 2};
  SetLogFormat(LogFormat::kJson);
  ASSERT_TRUE(LogMessage(site, LogLevel::kInfo, 0, std::string(3000, '"'), &buffer_));
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_LE(lines[0].size() + 1, LogBuffer::kMaxLine);
  // The last whole escape (\"), then the string's closing quote and the object's brace.
  EXPECT_EQ(lines[0].substr(lines[0].size() - 4), "\\\"\"}") << lines[0];
}

TEST_F(LogTest, WarningsAreRateLimitedPerSiteAndShard) {
  static LogSite site{"core/runtime/shard.cc", 213};
  static LogSite other{"core/runtime/shard.cc", 400};
  const int64_t t0 = 100 * kSecond;
  SetLogShard(0);
  EXPECT_TRUE(LogMessage(site, LogLevel::kWarn, t0, "a", &buffer_));
  EXPECT_FALSE(LogMessage(site, LogLevel::kWarn, t0 + 1, "a", &buffer_));
  EXPECT_FALSE(LogMessage(site, LogLevel::kWarn, t0 + 2, "a", &buffer_));
  EXPECT_TRUE(LogMessage(other, LogLevel::kWarn, t0 + 3, "b", &buffer_));  // Another site.
  SetLogShard(1);
  EXPECT_TRUE(LogMessage(site, LogLevel::kWarn, t0 + 4, "a", &buffer_));  // Another shard.
  SetLogShard(0);
  // Info lines are never held back (the start-up lines of every shard come from one site).
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(LogMessage(site, LogLevel::kInfo, t0 + 5, "i", &buffer_));
  EXPECT_TRUE(LogMessage(site, LogLevel::kWarn, t0 + kSecond, "a", &buffer_));
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_NE(lines.back().find("a (2 more like this in the last second, not logged)"),
            std::string::npos)
      << lines.back();
}

TEST_F(LogTest, PumpReportsHeldBackLinesOnceTheirSecondIsOver) {
  static LogSite site{"core/runtime/shard_peer.cc", 144};
  SetLogFormat(LogFormat::kJson);
  SetLogShard(2);
  const int64_t t0 = 1000 * kSecond;
  EXPECT_TRUE(LogMessage(site, LogLevel::kWarn, t0, "x", &buffer_));
  for (int i = 0; i < 5; ++i)
    EXPECT_FALSE(LogMessage(site, LogLevel::kWarn, t0 + i, "x", &buffer_));
  Captured captured;
  LogPump pump(buffer_, &Captured::Write, &captured);
  pump.ReportSuppressed(t0 + kSecond / 2);
  EXPECT_EQ(captured.All(), "");
  pump.ReportSuppressed(t0 + kSecond);
  const std::string all = captured.All();
  EXPECT_NE(all.find("\"level\":\"warn\",\"shard\":2,\"event\":\"runtime.shard_peer\","
                     "\"src\":\"shard_peer.cc:144\",\"suppressed\":5"),
            std::string::npos)
      << all;
}

TEST_F(LogTest, PumpBatchesPerStreamAndReportsDrops) {
  LogBuffer small(4);
  for (int i = 0; i < 6; ++i) small.TryPush(LogStream::kLog, "l" + std::to_string(i) + "\n");
  small.TryPush(LogStream::kAccess, "dropped access line\n");
  Captured captured;
  LogPump pump(small, &Captured::Write, &captured);
  EXPECT_EQ(pump.Drain(), 4u);
  ASSERT_EQ(captured.writes.size(), 1u);  // One write for the four lines.
  EXPECT_EQ(captured.writes[0].second, "l0\nl1\nl2\nl3\n");
  pump.ReportDrops();
  ASSERT_EQ(captured.writes.size(), 3u);
  EXPECT_NE(captured.writes[1].second.find("log.dropped stream=log dropped=2 reason="),
            std::string::npos)
      << captured.writes[1].second;
  EXPECT_NE(captured.writes[2].second.find("stream=access dropped=1"), std::string::npos);
  pump.ReportDrops();
  EXPECT_EQ(captured.writes.size(), 3u);  // Reported once.
}

TEST_F(LogTest, RecordFieldsInBothFormats) {
  SetLogShard(1);
  std::string text(LogRecord(LogLevel::kInfo, "access.http")
                       .Add("client", "10.0.0.1")
                       .Add("path", "/a b")
                       .Add("status", uint64_t{200})
                       .AddMillis("duration_ms", 1'234'567)
                       .Finish());
  EXPECT_EQ(text.substr(24),
            " info access.http client=10.0.0.1 path=\"/a b\" status=200 duration_ms=1.234\n");
  SetLogFormat(LogFormat::kJson);
  std::string json(LogRecord(LogLevel::kInfo, "access.ws").Add("user", "7").Finish());
  EXPECT_NE(json.find("\"level\":\"info\",\"shard\":1,\"event\":\"access.ws\",\"user\":\"7\"}\n"),
            std::string::npos)
      << json;
}

}  // namespace
}  // namespace ringcast
