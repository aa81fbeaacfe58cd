#include "chat/owners/delivery_lag.h"

#include <gtest/gtest.h>

namespace ringcast::chat {
namespace {

ConnId Conn(uint32_t shard) { return ConnId{shard, 7, 1}; }

TEST(DeliveryLagTest, NothingLagsAtFirst) {
  DeliveryLag lag;
  EXPECT_TRUE(lag.empty());
  EXPECT_EQ(lag.mask(), 0u);
  EXPECT_FALSE(lag.lagging(1));
}

TEST(DeliveryLagTest, RefusedDeliveryStartsAtThatSeqAndKeepsTheEarliest) {
  DeliveryLag lag;
  lag.DeliveryRefused(2, 10);
  lag.DeliveryRefused(2, 11);  // Withheld anyway: the refill still starts at 10.
  EXPECT_TRUE(lag.lagging(2));
  EXPECT_FALSE(lag.lagging(1));
  EXPECT_EQ(lag.mask(), uint64_t{1} << 2);
  ASSERT_NE(lag.Find(2), nullptr);
  EXPECT_EQ(lag.Find(2)->next_seq, 10);
  EXPECT_EQ(lag.Find(2)->join_token, 0u);
}

TEST(DeliveryLagTest, RefusedJoinAnswerGoesFirstThenEverythingAfterIt) {
  DeliveryLag lag;
  lag.JoinRefused(1, 42, 5);
  const DeliveryLag::Entry* entry = lag.Find(1);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->join_token, 42u);
  EXPECT_EQ(entry->join_last, 5);
  EXPECT_EQ(entry->next_seq, 6);
}

TEST(DeliveryLagTest, RefusedAckWaitsWithoutRefillingWhatWentOut) {
  DeliveryLag lag;
  // The message 8 went out; its ack did not: nothing to refill, the ack to resend.
  lag.HoldAck(3, 8, Conn(3), "ack8", /*last_published=*/8);
  DeliveryLag::Entry* entry = lag.Find(3);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->next_seq, 9);
  ASSERT_EQ(entry->acks.size(), 1u);
  EXPECT_EQ(entry->acks.front().seq, 8);
  EXPECT_EQ(entry->acks.front().json, "ack8");
}

TEST(DeliveryLagTest, AcksOfALaggingShardQueueInOrderBehindItsRefill) {
  DeliveryLag lag;
  lag.DeliveryRefused(0, 4);
  lag.HoldAck(0, 4, Conn(0), "ack4", 4);
  lag.HoldAck(0, 5, Conn(0), "ack5", 5);
  DeliveryLag::Entry* entry = lag.Find(0);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->next_seq, 4);  // Not moved by the acks.
  ASSERT_EQ(entry->acks.size(), 2u);
  EXPECT_EQ(entry->acks[0].json, "ack4");
  EXPECT_EQ(entry->acks[1].json, "ack5");
}

TEST(DeliveryLagTest, EraseHandsBackTheAcksAndClearsTheBit) {
  DeliveryLag lag;
  lag.DeliveryRefused(1, 3);
  lag.DeliveryRefused(5, 3);
  lag.HoldAck(1, 3, Conn(1), "ack3", 3);
  auto acks = lag.Erase(1);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks.front().json, "ack3");
  EXPECT_FALSE(lag.lagging(1));
  EXPECT_TRUE(lag.lagging(5));
  EXPECT_TRUE(lag.Erase(1).empty());  // Twice: nothing.
  lag.Clear();
  EXPECT_TRUE(lag.empty());
  EXPECT_EQ(lag.mask(), 0u);
}

}  // namespace
}  // namespace ringcast::chat
