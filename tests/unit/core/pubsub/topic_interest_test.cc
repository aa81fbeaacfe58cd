#include "core/pubsub/topic_interest.h"

#include <gtest/gtest.h>

#include <string>

namespace ringcast {
namespace {

TEST(TopicInterest, ABitStaysWhileAnyTopicOfTheSlotHasTheShard) {
  TopicInterest interest(4);
  interest.Add(/*home=*/1, /*slot=*/7, /*shard=*/2);  // Topic a.
  interest.Add(1, 7, 2);                              // Topic b, same slot.
  interest.Add(1, 7, 0);
  EXPECT_EQ(interest.Read(1, 7), 0b101u);
  interest.Remove(1, 7, 2);  // a's interest gone; b's stays: over, never under.
  EXPECT_EQ(interest.Read(1, 7), 0b101u);
  interest.Remove(1, 7, 2);
  EXPECT_EQ(interest.Read(1, 7), 0b001u);
  interest.Remove(1, 7, 0);
  EXPECT_EQ(interest.Read(1, 7), 0u);
}

TEST(TopicInterest, HomesAndSlotsAreApart) {
  TopicInterest interest(64);
  interest.Add(0, 3, 63);
  interest.Add(63, TopicInterest::kSlots - 1, 0);
  EXPECT_EQ(interest.Read(0, 3), uint64_t{1} << 63);
  EXPECT_EQ(interest.Read(1, 3), 0u);
  EXPECT_EQ(interest.Read(0, 4), 0u);
  EXPECT_EQ(interest.Read(63, TopicInterest::kSlots - 1), 1u);
}

TEST(TopicInterest, SlotsSpreadTopicsOfOneHome) {
  constexpr uint32_t kShards = 3;
  bool seen[TopicInterest::kSlots] = {};
  int distinct = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string topic = "room-" + std::to_string(i);
    const uint32_t slot = TopicInterest::SlotOf(topic, kShards);
    ASSERT_LT(slot, TopicInterest::kSlots);
    distinct += seen[slot] ? 0 : 1;
    seen[slot] = true;
  }
  EXPECT_GT(distinct, int(TopicInterest::kSlots) / 2);
}

}  // namespace
}  // namespace ringcast
