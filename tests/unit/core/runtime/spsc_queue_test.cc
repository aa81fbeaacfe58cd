#include "core/runtime/spsc_queue.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <thread>

#include "core/runtime/mailbox.h"

namespace ringcast {
namespace {

TEST(SpscQueue, FifoAndBounded) {
  SpscQueue<int> queue(3);  // Rounded up to 4.
  EXPECT_EQ(queue.capacity(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(queue.TryPush(int(i)));
  EXPECT_FALSE(queue.TryPush(99));
  int value;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(queue.TryPop(&value));
    EXPECT_EQ(value, i);
  }
  EXPECT_FALSE(queue.TryPop(&value));
  EXPECT_TRUE(queue.Empty());
}

TEST(SpscQueue, TwoThreadsTransferEverythingInOrder) {
  constexpr uint64_t kCount = 300'000;
  SpscQueue<uint64_t> queue(1024);
  std::thread producer([&] {
    for (uint64_t i = 1; i <= kCount;) {
      uint64_t item = i;
      if (queue.TryPush(std::move(item))) ++i;
    }
  });
  uint64_t expected = 1;
  uint64_t value;
  while (expected <= kCount) {
    if (queue.TryPop(&value)) {
      ASSERT_EQ(value, expected);
      ++expected;
    }
  }
  producer.join();
  EXPECT_FALSE(queue.TryPop(&value));
}

TEST(MailboxMatrix, QueuesPerOrderedPairInboxesAndDoorbells) {
  MailboxMatrix matrix(3, 8, 16);
  EXPECT_NE(&matrix.Queue(0, 1), &matrix.Queue(1, 0));
  Mail mail;
  mail.a = 42;
  ASSERT_TRUE(matrix.Queue(2, 1).TryPush(Mail(mail)));
  Mail out;
  EXPECT_FALSE(matrix.Queue(0, 1).TryPop(&out));
  ASSERT_TRUE(matrix.Queue(2, 1).TryPop(&out));
  EXPECT_EQ(out.a, 42u);
  EXPECT_FALSE(matrix.Doorbell(1).exchange(true));
  EXPECT_TRUE(matrix.Doorbell(1).exchange(true));
  EXPECT_FALSE(matrix.Doorbell(0).load());
  // Every shard has its own inbox for other threads.
  EXPECT_NE(&matrix.Inbox(0), &matrix.Inbox(1));
  EXPECT_EQ(matrix.Inbox(2).capacity(), 16u);
  ASSERT_EQ(matrix.Inbox(0).TryPush(mail), PushResult::kQueued);
  EXPECT_EQ(matrix.Inbox(1).Drain([](Mail&) {}), 0u);
  EXPECT_EQ(matrix.Inbox(0).Drain([](Mail& m) { EXPECT_EQ(m.a, 42u); }), 1u);
}

}  // namespace
}  // namespace ringcast
