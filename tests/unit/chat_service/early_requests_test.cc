#include "chat/early_requests.h"

#include <gtest/gtest.h>

#include <string>

namespace ringcast::chat {
namespace {

TEST(EarlyRequestsTest, BoundedByCount) {
  EarlyRequests early;
  for (size_t i = 0; i < EarlyRequests::kMaxRequests; ++i) {
    ASSERT_TRUE(early.Push(R"({"type":"ping"})")) << i;
  }
  EXPECT_FALSE(early.Push(R"({"type":"ping"})"));
  EXPECT_EQ(early.Take().size(), EarlyRequests::kMaxRequests);
  EXPECT_TRUE(early.Push(R"({"type":"ping"})")) << "empty again after Take";
}

TEST(EarlyRequestsTest, BoundedByBytesButOneRequestAlwaysFits) {
  EarlyRequests early;
  const std::string big(EarlyRequests::kMaxBytes + 4096, 'x');
  EXPECT_TRUE(early.Push(big)) << "one request of any size";
  EXPECT_FALSE(early.Push("{}"));
  early.Take();
  EXPECT_EQ(early.bytes(), 0u);
  const std::string third(EarlyRequests::kMaxBytes / 3, 'y');
  EXPECT_TRUE(early.Push(third));
  EXPECT_TRUE(early.Push(third));
  EXPECT_TRUE(early.Push(third));
  EXPECT_FALSE(early.Push(third)) << "four thirds of the byte bound";
  auto taken = early.Take();
  ASSERT_EQ(taken.size(), 3u);
  EXPECT_EQ(taken[0], third);
}

}  // namespace
}  // namespace ringcast::chat
