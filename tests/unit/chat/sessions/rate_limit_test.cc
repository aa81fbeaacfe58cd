// TokenBucket and LoginLimiter measure time on the monotonic clock: a wall-clock step, either
// way, neither refills a bucket nor ends or stretches a login window.
#include "chat/sessions/rate_limit.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/support/fake_clock.h"

namespace ringcast::chat {
namespace {

using testing::FakeClock;

TEST(TokenBucketTest, BurstThenRefillAtTheRate) {
  FakeClock clock;
  TokenBucket bucket(10, 20, clock.MonotonicMs());
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(bucket.TryTake(clock.MonotonicMs())) << i;
  EXPECT_FALSE(bucket.TryTake(clock.MonotonicMs()));
  clock.Advance(100);  // One token at 10 per second.
  EXPECT_TRUE(bucket.TryTake(clock.MonotonicMs()));
  EXPECT_FALSE(bucket.TryTake(clock.MonotonicMs()));
  clock.Advance(60'000);  // Capped at the burst.
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(bucket.TryTake(clock.MonotonicMs())) << i;
  EXPECT_FALSE(bucket.TryTake(clock.MonotonicMs()));
}

TEST(TokenBucketTest, WallClockStepsRefillNothing) {
  FakeClock clock;
  TokenBucket bucket(10, 20, clock.MonotonicMs());
  while (bucket.TryTake(clock.MonotonicMs())) {
  }
  clock.StepWall(-3'600'000);
  EXPECT_FALSE(bucket.TryTake(clock.MonotonicMs())) << "a step back refilled the bucket";
  clock.StepWall(+7'200'000);
  EXPECT_FALSE(bucket.TryTake(clock.MonotonicMs())) << "a step forward refilled the bucket";
  clock.Advance(100);
  EXPECT_TRUE(bucket.TryTake(clock.MonotonicMs()));
}

TEST(TokenBucketTest, AnEarlierTimeRefillsNothing) {
  TokenBucket bucket(10, 1, 5000);
  EXPECT_TRUE(bucket.TryTake(5000));
  EXPECT_FALSE(bucket.TryTake(1000));
  EXPECT_FALSE(bucket.TryTake(5050));
  EXPECT_TRUE(bucket.TryTake(5100));
}

TEST(LoginLimiterTest, CountsPerKeyUntilTheWindowEnds) {
  FakeClock clock;
  LoginLimiter limiter(60'000, 100, clock.MonotonicMs());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Count("user:a", 3, clock.MonotonicMs()), 0);
  clock.Advance(20'000);
  EXPECT_EQ(limiter.Count("user:a", 3, clock.MonotonicMs()), 40) << "seconds left";
  EXPECT_EQ(limiter.Count("user:b", 3, clock.MonotonicMs()), 0) << "keys are independent";
  clock.Advance(39'500);
  EXPECT_EQ(limiter.Count("user:a", 3, clock.MonotonicMs()), 1) << "never 0 while refused";
  clock.Advance(500);
  EXPECT_EQ(limiter.Count("user:a", 3, clock.MonotonicMs()), 0) << "a new window";
}

// Logins: Check counts nothing (a success never adds up); Fail counts. Past backoff_after
// failures the key waits 1 s after its latest failure, then 2 s, ... up to backoff_max_s; past
// the limit, until the window ends.
TEST(LoginLimiterTest, FailuresBackOffThenCapUntilTheWindowEnds) {
  FakeClock clock;
  LoginLimiter limiter(60'000, 100, clock.MonotonicMs());
  const AttemptRule rule{.limit = 6, .backoff_after = 2, .backoff_max_s = 2};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(limiter.Check("ip:1", rule, clock.MonotonicMs()), 0);
  limiter.Fail("ip:1", clock.MonotonicMs());
  limiter.Fail("ip:1", clock.MonotonicMs());
  EXPECT_EQ(limiter.Check("ip:1", rule, clock.MonotonicMs()), 1) << "1 s after the 2nd failure";
  EXPECT_EQ(limiter.Check("ip:2", rule, clock.MonotonicMs()), 0) << "keys are independent";
  clock.Advance(1'000);
  EXPECT_EQ(limiter.Check("ip:1", rule, clock.MonotonicMs()), 0);
  limiter.Fail("ip:1", clock.MonotonicMs());
  clock.Advance(1'000);
  EXPECT_EQ(limiter.Check("ip:1", rule, clock.MonotonicMs()), 1) << "then 2 s";
  clock.Advance(1'000);
  limiter.Fail("ip:1", clock.MonotonicMs());
  clock.Advance(1'500);
  EXPECT_EQ(limiter.Check("ip:1", rule, clock.MonotonicMs()), 1) << "at most backoff_max_s";
  clock.Advance(500);
  limiter.Fail("ip:1", clock.MonotonicMs());
  clock.Advance(2'000);
  limiter.Fail("ip:1", clock.MonotonicMs());  // The 6th: the limit.
  clock.Advance(2'000);
  EXPECT_EQ(limiter.Check("ip:1", rule, clock.MonotonicMs()), 51) << "until the window ends";
  clock.Advance(51'000);
  EXPECT_EQ(limiter.Check("ip:1", rule, clock.MonotonicMs()), 0) << "a new window";
}

TEST(LoginLimiterTest, WallClockStepsNeitherEndNorStretchTheWindow) {
  FakeClock clock;
  LoginLimiter limiter(60'000, 100, clock.MonotonicMs());
  EXPECT_EQ(limiter.Count("ip:1", 1, clock.MonotonicMs()), 0);
  clock.StepWall(+3'600'000);
  EXPECT_EQ(limiter.Count("ip:1", 1, clock.MonotonicMs()), 60) << "a step forward ended it";
  clock.StepWall(-7'200'000);
  clock.Advance(60'000);
  EXPECT_EQ(limiter.Count("ip:1", 1, clock.MonotonicMs()), 0) << "a step back stretched it";
}

TEST(LoginLimiterTest, KeysAreBoundedAndForgottenWithTheirWindow) {
  FakeClock clock;
  LoginLimiter limiter(60'000, 4, clock.MonotonicMs());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(limiter.Count("user:" + std::to_string(i), 10, clock.MonotonicMs()), 0);
  }
  EXPECT_EQ(limiter.keys(), 4u);
  // A fifth key fails closed rather than push out the counts of the first four.
  EXPECT_EQ(limiter.Count("user:new", 10, clock.MonotonicMs()), 60);
  EXPECT_EQ(limiter.Count("user:0", 10, clock.MonotonicMs()), 0) << "known keys still count";
  EXPECT_EQ(limiter.keys(), 4u);
  clock.Advance(60'000);
  limiter.Expire(clock.MonotonicMs());
  EXPECT_EQ(limiter.keys(), 0u) << "an ended window is forgotten without a new attempt";
  EXPECT_EQ(limiter.Count("user:new", 10, clock.MonotonicMs()), 0);
}

TEST(ConnectionsPerAddressTest, CountsUpToTheLimitAndForgetsEmptyAddresses) {
  ConnectionsPerAddress conns;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(conns.TryAdd("10.0.0.1", 3)) << i;
  EXPECT_FALSE(conns.TryAdd("10.0.0.1", 3));
  EXPECT_TRUE(conns.TryAdd("10.0.0.2", 3));  // Per address.
  conns.Remove("10.0.0.1");
  EXPECT_TRUE(conns.TryAdd("10.0.0.1", 3));  // A closed connection frees its place.
  EXPECT_EQ(conns.addresses(), 2u);
  conns.Remove("10.0.0.2");
  EXPECT_EQ(conns.addresses(), 1u);  // No entry is kept for an address with no connection.
  conns.Remove("10.0.0.9");          // Never counted: nothing happens.
  EXPECT_EQ(conns.addresses(), 1u);
}

}  // namespace
}  // namespace ringcast::chat
