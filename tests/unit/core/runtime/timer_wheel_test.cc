#include "core/runtime/timer_wheel.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace ringcast {
namespace {

std::vector<TimerEntry*> AdvanceCollect(TimerWheel& wheel, uint64_t now) {
  std::vector<TimerEntry*> fired;
  wheel.Advance(now, [&](TimerEntry* entry) { fired.push_back(entry); });
  return fired;
}

TEST(TimerWheel, FiresAtDeadlineNotBefore) {
  TimerWheel wheel(16, 100);
  TimerEntry entry;
  wheel.Schedule(&entry, 105);
  EXPECT_TRUE(entry.armed());
  EXPECT_TRUE(AdvanceCollect(wheel, 104).empty());
  auto fired = AdvanceCollect(wheel, 105);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0], &entry);
  EXPECT_FALSE(entry.armed());
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheel, DeadlineBeyondSpanWaitsForLaterTurns) {
  TimerWheel wheel(8, 0);
  TimerEntry entry;
  wheel.Schedule(&entry, 100);  // 12 turns of an 8-slot wheel away.
  for (uint64_t tick = 1; tick < 100; ++tick) {
    ASSERT_TRUE(AdvanceCollect(wheel, tick).empty()) << tick;
  }
  EXPECT_EQ(AdvanceCollect(wheel, 100).size(), 1u);
}

TEST(TimerWheel, CancelAndRescheduleAreO1AndExact) {
  TimerWheel wheel(64, 0);
  TimerEntry a, b;
  wheel.Schedule(&a, 10);
  wheel.Schedule(&b, 10);
  wheel.Cancel(&a);
  EXPECT_FALSE(a.armed());
  wheel.Schedule(&b, 20);  // Move.
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_TRUE(AdvanceCollect(wheel, 19).empty());
  EXPECT_EQ(AdvanceCollect(wheel, 20), std::vector<TimerEntry*>{&b});
}

TEST(TimerWheel, PastDeadlineFiresOnNextTick) {
  TimerWheel wheel(16, 50);
  TimerEntry entry;
  wheel.Schedule(&entry, 10);
  EXPECT_EQ(entry.deadline, 51u);
  EXPECT_EQ(AdvanceCollect(wheel, 51).size(), 1u);
}

TEST(TimerWheel, CallbackMayRescheduleIntoSameSlot) {
  TimerWheel wheel(4, 0);
  TimerEntry entry;
  int fired = 0;
  wheel.Schedule(&entry, 1);
  for (uint64_t tick = 1; tick <= 40; ++tick) {
    wheel.Advance(tick, [&](TimerEntry* e) {
      ++fired;
      wheel.Schedule(e, tick + 4);  // Same slot, next turn.
    });
  }
  EXPECT_EQ(fired, 10);
}

TEST(TimerWheel, RandomScheduleMatchesReference) {
  std::mt19937 rng(7);
  TimerWheel wheel(32, 0);
  std::vector<TimerEntry> entries(500);
  std::vector<uint64_t> expected(entries.size(), 0);
  for (size_t i = 0; i < entries.size(); ++i) {
    expected[i] = 1 + rng() % 300;
    wheel.Schedule(&entries[i], expected[i]);
  }
  for (size_t i = 0; i < entries.size(); i += 7) {
    wheel.Cancel(&entries[i]);
    expected[i] = 0;
  }
  std::vector<uint64_t> fired_at(entries.size(), 0);
  // Jumps of several ticks at a time, including one longer than the whole wheel.
  for (uint64_t tick : {3u, 10u, 11u, 50u, 120u, 121u, 200u, 301u}) {
    wheel.Advance(tick, [&](TimerEntry* e) {
      size_t index = static_cast<size_t>(e - entries.data());
      fired_at[index] = tick;
      EXPECT_LE(e->deadline, tick);
    });
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    if (expected[i] == 0) {
      EXPECT_EQ(fired_at[i], 0u) << i;
    } else {
      EXPECT_GE(fired_at[i], expected[i]) << i;
      EXPECT_NE(fired_at[i], 0u) << i;
    }
  }
  EXPECT_EQ(wheel.size(), 0u);
}

}  // namespace
}  // namespace ringcast
