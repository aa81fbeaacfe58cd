// RevokedTokens: a revoked id is kept while its token could still pass its own exp check (plus
// an hour for a wall clock stepping back), then forgotten by the sweep that comes once a minute
// (monotonic), so the set does not grow with every logout over a long uptime (issue 8, item 6).
#include "chat/sessions/revoked_tokens.h"

#include <gtest/gtest.h>

#include "tests/unit/support/fake_clock.h"

namespace ringcast::chat {
namespace {

using testing::FakeClock;

constexpr int64_t kMinute = 60 * 1000;
constexpr int64_t kHour = 60 * kMinute;

TEST(RevokedTokensTest, ForgetsAnIdAnHourAfterItsTokenExpired) {
  FakeClock clock;
  RevokedTokens revoked(clock);
  EXPECT_TRUE(revoked.Add("soon", clock.WallMs() + kMinute));
  EXPECT_TRUE(revoked.Add("later", clock.WallMs() + 3 * kHour));
  EXPECT_FALSE(revoked.Add("soon", clock.WallMs() + kMinute)) << "a repeated revocation";
  ASSERT_EQ(revoked.size(), 2u);

  // "soon" expired an hour ago exactly: still kept.
  clock.Advance(kMinute + kHour);
  revoked.Sweep();
  EXPECT_TRUE(revoked.Contains("soon"));
  // Past it, but the sweep comes once a minute: the next one forgets it.
  clock.Advance(1);
  revoked.Sweep();
  clock.Advance(kMinute);
  revoked.Sweep();
  EXPECT_FALSE(revoked.Contains("soon"));
  EXPECT_TRUE(revoked.Contains("later"));
  EXPECT_EQ(revoked.size(), 1u);

  clock.Advance(3 * kHour);
  revoked.Sweep();
  EXPECT_FALSE(revoked.Contains("later"));
  EXPECT_EQ(revoked.size(), 0u);
}

TEST(RevokedTokensTest, SweepsAtMostOncePerMinute) {
  FakeClock clock;
  RevokedTokens revoked(clock);
  revoked.Add("expired", clock.WallMs() - 2 * kHour);
  revoked.Sweep();
  EXPECT_TRUE(revoked.Contains("expired")) << "the first sweep is due a minute after the start";
  clock.Advance(kMinute);
  revoked.Sweep();
  EXPECT_FALSE(revoked.Contains("expired"));
  revoked.Add("expired too", clock.WallMs() - 2 * kHour);
  clock.Advance(kMinute - 1);
  revoked.Sweep();
  EXPECT_TRUE(revoked.Contains("expired too")) << "within a minute of the last sweep";
  clock.Advance(1);
  revoked.Sweep();
  EXPECT_FALSE(revoked.Contains("expired too"));
}

TEST(RevokedTokensTest, AWallClockSteppingBackLessThanAnHourKeepsARevokedTokenRevoked) {
  FakeClock clock;
  RevokedTokens revoked(clock);
  revoked.Add("jti", clock.WallMs() + kMinute);
  // A sweep 59 minutes after the token expired keeps the id; then the wall clock steps back 50
  // minutes, so the token looks unexpired again: its id must still be there.
  clock.Advance(kHour);
  revoked.Sweep();
  clock.StepWall(-50 * kMinute);
  clock.Advance(kMinute);
  revoked.Sweep();
  EXPECT_TRUE(revoked.Contains("jti"));
  // Durations follow the monotonic clock: a wall clock stepping forward a day does not bring
  // the next sweep nearer, only the ids' ages.
  clock.StepWall(24 * kHour);
  revoked.Sweep();
  EXPECT_TRUE(revoked.Contains("jti")) << "the sweep ran a minute ago (monotonic)";
  clock.Advance(kMinute);
  revoked.Sweep();
  EXPECT_FALSE(revoked.Contains("jti"));
}

}  // namespace
}  // namespace ringcast::chat
