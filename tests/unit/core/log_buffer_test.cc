// LogBuffer (bounded, never blocking, drops counted) and LogRateState (one line a second per
// call site, the rest counted), driven with a fake clock.
#include "core/log_buffer.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace ringcast {
namespace {

constexpr int64_t kSecond = LogRateState::kIntervalNs;

TEST(LogBufferTest, KeepsOrderAndStream) {
  LogBuffer buffer(8);
  ASSERT_TRUE(buffer.TryPush(LogStream::kLog, "one\n"));
  ASSERT_TRUE(buffer.TryPush(LogStream::kAccess, "two\n"));
  LogStream stream;
  std::string line;
  ASSERT_TRUE(buffer.TryPop(&stream, &line));
  EXPECT_EQ(line, "one\n");
  EXPECT_EQ(stream, LogStream::kLog);
  ASSERT_TRUE(buffer.TryPop(&stream, &line));
  EXPECT_EQ(line, "two\n");
  EXPECT_EQ(stream, LogStream::kAccess);
  EXPECT_FALSE(buffer.TryPop(&stream, &line));
}

TEST(LogBufferTest, CapacityIsRoundedUpToAPowerOfTwo) {
  EXPECT_EQ(LogBuffer(5).capacity(), 8u);
  EXPECT_EQ(LogBuffer(64).capacity(), 64u);
  EXPECT_EQ(LogBuffer(0).capacity(), 2u);
}

TEST(LogBufferTest, FullBufferDropsAndCountsPerStream) {
  LogBuffer buffer(4);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(buffer.TryPush(LogStream::kLog, std::to_string(i)));
  EXPECT_FALSE(buffer.TryPush(LogStream::kLog, "lost"));
  EXPECT_FALSE(buffer.TryPush(LogStream::kLog, "lost"));
  EXPECT_FALSE(buffer.TryPush(LogStream::kAccess, "lost"));
  EXPECT_EQ(buffer.TakeDropped(LogStream::kLog), 2u);
  EXPECT_EQ(buffer.TakeDropped(LogStream::kLog), 0u);  // Taken once.
  EXPECT_EQ(buffer.TakeDropped(LogStream::kAccess), 1u);
  // Room again once the consumer took a line; what was kept is intact and in order.
  LogStream stream;
  std::string line;
  ASSERT_TRUE(buffer.TryPop(&stream, &line));
  EXPECT_EQ(line, "0");
  EXPECT_TRUE(buffer.TryPush(LogStream::kLog, "4"));
  for (const char* expected : {"1", "2", "3", "4"}) {
    ASSERT_TRUE(buffer.TryPop(&stream, &line));
    EXPECT_EQ(line, expected);
  }
}

TEST(LogBufferTest, LongLinesAreCut) {
  LogBuffer buffer(2);
  ASSERT_TRUE(buffer.TryPush(LogStream::kLog, std::string(5000, 'x')));
  LogStream stream;
  std::string line;
  ASSERT_TRUE(buffer.TryPop(&stream, &line));
  EXPECT_EQ(line, std::string(LogBuffer::kMaxLine, 'x'));
}

// Several producers, one consumer: every line pushed arrives once, or was counted as dropped.
TEST(LogBufferTest, ConcurrentProducersLoseNothingUncounted) {
  LogBuffer buffer(64);
  constexpr int kThreads = 4;
  constexpr int kLines = 5000;
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&buffer, t] {
      for (int i = 0; i < kLines; ++i) {
        buffer.TryPush(LogStream::kLog, std::to_string(t) + ":" + std::to_string(i));
      }
    });
  }
  std::vector<int> next(kThreads, 0);  // Per producer, lines arrive in its order.
  size_t received = 0;
  std::atomic<bool> done{false};
  std::thread joiner([&] {
    for (auto& producer : producers) producer.join();
    done = true;
  });
  LogStream stream;
  std::string line;
  for (;;) {
    const bool finished = done.load();
    while (buffer.TryPop(&stream, &line)) {
      int t = std::stoi(line.substr(0, line.find(':')));
      int i = std::stoi(line.substr(line.find(':') + 1));
      EXPECT_GT(i + 1, next[t]);
      next[t] = i + 1;
      ++received;
    }
    if (finished) break;
  }
  joiner.join();
  EXPECT_EQ(received + buffer.TakeDropped(LogStream::kLog), size_t{kThreads} * kLines);
}

TEST(LogRateStateTest, OneLineASecondTheRestCounted) {
  LogRateState rate;
  uint64_t suppressed = 99;
  const int64_t t0 = 5 * kSecond;
  ASSERT_TRUE(rate.Admit(t0, &suppressed));
  EXPECT_EQ(suppressed, 0u);
  for (int i = 1; i <= 7; ++i) EXPECT_FALSE(rate.Admit(t0 + i * kSecond / 10, &suppressed));
  EXPECT_FALSE(rate.Admit(t0 + kSecond - 1, &suppressed));
  // A second after the last line let through: the next one goes out, carrying the count.
  ASSERT_TRUE(rate.Admit(t0 + kSecond, &suppressed));
  EXPECT_EQ(suppressed, 8u);
  EXPECT_FALSE(rate.Admit(t0 + kSecond + 1, &suppressed));
}

TEST(LogRateStateTest, ABurstThatStopsIsReportedOnceItsSecondIsOver) {
  LogRateState rate;
  uint64_t suppressed = 0;
  ASSERT_TRUE(rate.Admit(0, &suppressed));
  EXPECT_FALSE(rate.Admit(10, &suppressed));
  EXPECT_FALSE(rate.Admit(20, &suppressed));
  EXPECT_EQ(rate.TakeExpired(kSecond / 2), 0u);  // Still within the second: not yet.
  EXPECT_EQ(rate.TakeExpired(kSecond), 2u);
  EXPECT_EQ(rate.TakeExpired(2 * kSecond), 0u);  // Reported once.
  ASSERT_TRUE(rate.Admit(3 * kSecond, &suppressed));
  EXPECT_EQ(suppressed, 0u);  // Already reported by the summary.
}

}  // namespace
}  // namespace ringcast
