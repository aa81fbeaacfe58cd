#include "chat/sessions/pending_requests.h"

#include <gtest/gtest.h>

#include <string>

namespace ringcast::chat {
namespace {

TEST(PendingRequestsTest, BoundedByCountAndKeptInOrder) {
  PendingRequests pending;
  for (size_t i = 0; i < PendingRequests::kMaxRequests; ++i) {
    ASSERT_TRUE(pending.Push(std::to_string(i))) << i;
  }
  EXPECT_FALSE(pending.Push("one more"));
  EXPECT_EQ(pending.Pop(), "0");
  EXPECT_TRUE(pending.Push("room again"));
  EXPECT_EQ(pending.Pop(), "1");
}

TEST(PendingRequestsTest, BoundedByBytesButOneRequestAlwaysFits) {
  PendingRequests pending;
  const std::string big(PendingRequests::kMaxBytes + 4096, 'x');
  EXPECT_TRUE(pending.Push(big)) << "one request of any size";
  EXPECT_FALSE(pending.Push("{}"));
  EXPECT_EQ(pending.Pop(), big);
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(pending.bytes(), 0u);
  const std::string third(PendingRequests::kMaxBytes / 3, 'y');
  EXPECT_TRUE(pending.Push(third));
  EXPECT_TRUE(pending.Push(third));
  EXPECT_TRUE(pending.Push(third));
  EXPECT_FALSE(pending.Push(third)) << "four thirds of the byte bound";
  EXPECT_EQ(pending.bytes(), 3 * third.size());
}

}  // namespace
}  // namespace ringcast::chat
