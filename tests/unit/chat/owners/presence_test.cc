// PresenceOwner: online at the first connection, offline a grace period after the last one
// (measured on the monotonic clock, whatever the wall clock does), last_online on the wall clock,
// the per-user connection limit, and no record left for a user gone offline.
#include "chat/owners/presence.h"

#include <gtest/gtest.h>

#include "tests/unit/support/fake_clock.h"

namespace ringcast::chat {
namespace {

using testing::FakeClock;

constexpr ConnId kConn1{0, 1, 1};
constexpr ConnId kConn2{1, 7, 3};
constexpr ConnId kConn3{1, 8, 1};

TEST(PresenceOwnerTest, OnlineAtFirstConnectionOfflineAfterGrace) {
  FakeClock clock;
  PresenceOwner owner(clock, 16, 5);
  std::optional<PresenceOwner::Change> change;
  ASSERT_TRUE(owner.Attach(42, kConn1, &change));
  ASSERT_TRUE(change);
  EXPECT_TRUE(change->online);
  EXPECT_EQ(change->last_online, clock.WallMs());
  ASSERT_TRUE(owner.Attach(42, kConn2, &change));
  EXPECT_FALSE(change) << "a second device is no change";

  owner.Detach(42, kConn1);
  owner.Detach(42, kConn2);
  const int64_t left_at = clock.WallMs();
  clock.Advance(4'999);
  EXPECT_TRUE(owner.Sweep().empty()) << "still within the grace period";
  EXPECT_TRUE(owner.online(42));
  clock.Advance(1);
  auto offline = owner.Sweep();
  ASSERT_EQ(offline.size(), 1u);
  EXPECT_EQ(offline[0].user, 42);
  EXPECT_FALSE(offline[0].online);
  EXPECT_EQ(offline[0].last_online, left_at) << "when the last connection closed";
  EXPECT_FALSE(owner.online(42));
  EXPECT_EQ(owner.users(), 0u) << "an offline user leaves no record";
}

TEST(PresenceOwnerTest, ReturnWithinGraceIsNoChange) {
  FakeClock clock;
  PresenceOwner owner(clock, 16, 5);
  std::optional<PresenceOwner::Change> change;
  owner.Attach(7, kConn1, &change);
  owner.Detach(7, kConn1);
  clock.Advance(3'000);
  ASSERT_TRUE(owner.Attach(7, kConn2, &change));
  EXPECT_FALSE(change) << "nobody saw it leave";
  clock.Advance(10'000);
  EXPECT_TRUE(owner.Sweep().empty());
  EXPECT_TRUE(owner.online(7));
  // Flapping within the grace period lists the user once, and it goes offline once.
  for (int i = 0; i < 3; ++i) {
    owner.Detach(7, kConn2);
    owner.Attach(7, kConn2, &change);
  }
  owner.Detach(7, kConn2);
  clock.Advance(5'000);
  EXPECT_EQ(owner.Sweep().size(), 1u);
  EXPECT_TRUE(owner.Sweep().empty());
  EXPECT_EQ(owner.users(), 0u);
}

TEST(PresenceOwnerTest, GraceIgnoresWallClockSteps) {
  FakeClock clock;
  PresenceOwner owner(clock, 16, 5);
  std::optional<PresenceOwner::Change> change;
  owner.Attach(1, kConn1, &change);
  owner.Attach(2, kConn2, &change);
  owner.Detach(1, kConn1);
  clock.StepWall(+3'600'000);  // NTP steps forward an hour.
  EXPECT_TRUE(owner.Sweep().empty()) << "a step forward ended the grace period";
  owner.Detach(2, kConn2);
  const int64_t left_at = clock.WallMs();
  clock.StepWall(-7'200'000);  // And back two.
  clock.Advance(5'000);
  auto offline = owner.Sweep();
  ASSERT_EQ(offline.size(), 2u) << "a step back stretched the grace period";
  EXPECT_EQ(offline[1].last_online, left_at) << "last_online is a wall-clock time";
}

TEST(PresenceOwnerTest, ConnectionLimitAndZeroGrace) {
  FakeClock clock;
  PresenceOwner owner(clock, 2, 0);
  std::optional<PresenceOwner::Change> change;
  EXPECT_TRUE(owner.Attach(9, kConn1, &change));
  EXPECT_TRUE(owner.Attach(9, kConn2, &change));
  EXPECT_FALSE(owner.Attach(9, kConn3, &change));
  EXPECT_FALSE(change);
  owner.Detach(9, kConn3);  // Refused, never counted: changes nothing.
  EXPECT_TRUE(owner.online(9));
  owner.Detach(9, kConn1);
  owner.Detach(9, kConn2);
  EXPECT_EQ(owner.Sweep().size(), 1u) << "grace 0: offline at the next sweep";
  EXPECT_EQ(owner.users(), 0u);
}

}  // namespace
}  // namespace ringcast::chat
