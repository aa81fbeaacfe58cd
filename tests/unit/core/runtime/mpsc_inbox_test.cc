#include "core/runtime/mpsc_inbox.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace ringcast {
namespace {

// Producer id in the high half, its sequence number in the low half.
uint64_t Item(uint64_t producer, uint64_t seq) { return producer << 32 | seq; }

// Bounded waits for a condition another thread makes true (not a timing assertion).
template <typename Pred>
bool Eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// Drains until `producers` × `each` items have come, checking that each producer's arrive in
// the order it pushed them.
void DrainAllInOrder(MpscInbox<uint64_t>& inbox, uint64_t producers, uint64_t each) {
  std::vector<uint64_t> last(producers, 0);
  uint64_t total = 0;
  bool ordered = true;
  ASSERT_TRUE(Eventually([&] {
    inbox.Drain([&](uint64_t& item) {
      uint64_t p = item >> 32, seq = item & 0xFFFFFFFF;
      ordered &= seq == last[p] + 1;
      last[p] = seq;
      ++total;
    });
    return total == producers * each;
  }));
  EXPECT_TRUE(ordered);
}

TEST(MpscInbox, ManyProducersEachKeepTheirOrderThroughTheRing) {
  // A ring large enough for everything: no overflow, only the ring's own ordering.
  constexpr uint64_t kProducers = 8;
  constexpr uint64_t kEach = 2000;
  MpscInbox<uint64_t> inbox(kProducers * kEach);
  std::vector<std::thread> producers;
  for (uint64_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&inbox, p] {
      for (uint64_t i = 1; i <= kEach; ++i) {
        uint64_t item = Item(p, i);
        ASSERT_EQ(inbox.TryPush(item), PushResult::kQueued);
      }
    });
  }
  DrainAllInOrder(inbox, kProducers, kEach);
  for (std::thread& t : producers) t.join();
  EXPECT_EQ(inbox.overflowed(), 0u);
  EXPECT_EQ(inbox.Drain([](uint64_t&) {}), 0u);
}

TEST(MpscInbox, AFullRingWithoutOverflowRefusesAndTheDrainIsBounded) {
  MpscInbox<uint64_t> inbox(4);
  ASSERT_EQ(inbox.capacity(), 4u);
  for (uint64_t i = 0; i < 4; ++i) {
    uint64_t item = i;
    ASSERT_EQ(inbox.TryPush(item), PushResult::kQueued);
  }
  uint64_t extra = 4;
  bool rang = false;
  EXPECT_EQ(inbox.TryPush(extra, 0, [&] { rang = true; }), PushResult::kFull);
  EXPECT_EQ(extra, 4u);  // Left with the caller, untouched.
  EXPECT_FALSE(rang);
  std::vector<uint64_t> seen;
  EXPECT_EQ(inbox.Drain([&](uint64_t& item) { seen.push_back(item); }, 2), 2u);   // Bounded.
  EXPECT_EQ(inbox.TryPush(extra, 0, [&] { rang = true; }), PushResult::kQueued);  // Room again.
  EXPECT_TRUE(rang);
  inbox.Drain([&](uint64_t& item) { seen.push_back(item); });
  EXPECT_EQ(seen, (std::vector<uint64_t>{0, 1, 2, 3, 4}));
}

TEST(MpscInbox, CloseRefusesLaterPushesAndKeepsWhatWasAccepted) {
  MpscInbox<uint64_t> inbox(2);
  uint64_t a = 1, b = 2, c = 3;
  ASSERT_EQ(inbox.TryPush(a), PushResult::kQueued);
  ASSERT_EQ(inbox.TryPush(b), PushResult::kQueued);
  ASSERT_EQ(inbox.TryPush(c, SIZE_MAX), PushResult::kQueued);  // Overflowed.
  inbox.Close();
  EXPECT_TRUE(inbox.closed());
  uint64_t late = 7;
  bool rang = false;
  EXPECT_EQ(inbox.TryPush(late, SIZE_MAX, [&] { rang = true; }), PushResult::kClosed);
  EXPECT_EQ(late, 7u);  // Left with the caller, untouched.
  EXPECT_FALSE(rang);   // No doorbell for a consumer that has stopped.
  std::vector<uint64_t> seen;
  inbox.Drain([&](uint64_t& item) { seen.push_back(item); });
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2, 3}));  // What was accepted is still delivered.
}

TEST(MpscInbox, EveryAcceptedItemIsDrainedAfterACloseRacingProducers) {
  // Producers push flat out (ring and a bounded overflow) while the consumer drains and then
  // closes at some point: each item is either refused to its producer or delivered, never lost
  // and never both.
  for (int round = 0; round < 20; ++round) {
    MpscInbox<uint64_t> inbox(32);
    constexpr int kProducers = 6;
    std::atomic<uint64_t> accepted{0};
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&] {
        for (;;) {
          uint64_t item = 1;
          PushResult result = inbox.TryPush(item, 64);
          if (result == PushResult::kClosed) return;
          if (result == PushResult::kQueued) accepted.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    uint64_t delivered = 0;
    ASSERT_TRUE(Eventually([&] {
      delivered += inbox.Drain([](uint64_t&) {});
      return delivered >= uint64_t(500 + round * 200);
    }));
    inbox.Close();
    delivered += inbox.Drain([](uint64_t&) {});
    for (std::thread& t : producers) t.join();
    EXPECT_EQ(delivered, accepted.load()) << "round " << round;
  }
}

TEST(MpscInbox, TryPushOverflowsWithoutWaitingAndKeepsEachProducersOrder) {
  // Producers that never wait, into an inbox far smaller than what they push: the overflow
  // takes the rest, and per producer the consumer sees every item once, in order.
  MpscInbox<uint64_t> inbox(8);
  constexpr uint64_t kProducers = 4;
  constexpr uint64_t kEach = 20000;
  std::vector<std::thread> producers;
  for (uint64_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&inbox, p] {
      for (uint64_t i = 1; i <= kEach; ++i) {
        uint64_t item = Item(p, i);
        ASSERT_EQ(inbox.TryPush(item, SIZE_MAX), PushResult::kQueued);
      }
    });
  }
  DrainAllInOrder(inbox, kProducers, kEach);
  for (std::thread& t : producers) t.join();
  EXPECT_EQ(inbox.overflowed(), 0u);  // All taken.
}

TEST(MpscInbox, TryPushPastTheOverflowLimitIsRefusedAndTheItemKept) {
  MpscInbox<uint64_t> inbox(2);
  for (uint64_t i = 0; i < 4; ++i) {
    uint64_t item = i;
    ASSERT_EQ(inbox.TryPush(item, 2), PushResult::kQueued);  // 2 in the ring, 2 overflowed.
  }
  uint64_t refused = 4;
  EXPECT_EQ(inbox.TryPush(refused, 2), PushResult::kFull);
  EXPECT_EQ(refused, 4u);
  EXPECT_EQ(inbox.overflowed(), 2u);
  std::vector<uint64_t> seen;
  inbox.Drain([&](uint64_t& item) { seen.push_back(item); });
  EXPECT_EQ(seen, (std::vector<uint64_t>{0, 1, 2, 3}));
  inbox.Close();
  EXPECT_EQ(inbox.TryPush(refused, 2), PushResult::kClosed);
}

}  // namespace
}  // namespace ringcast
