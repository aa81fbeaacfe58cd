#include "core/runtime/fan_out.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace ringcast {
namespace {

// Counts references as SharedFrame does; `freed` once the last one goes.
struct CountedPayload {
  int refs = 1;
  bool freed = false;
  void AddRefs(uint32_t n) { refs += int(n); }
  void Release() {
    ASSERT_GT(refs, 0) << "released more often than referenced";
    if (--refs == 0) freed = true;
  }
};

TEST(ShardMask, VisitsEachShardOnceLowestFirst) {
  std::vector<uint32_t> seen;
  ShardMask(0b1010'0110).ForEach([&](uint32_t shard) { seen.push_back(shard); });
  EXPECT_EQ(seen, (std::vector<uint32_t>{1, 2, 5, 7}));
  EXPECT_EQ(ShardMask::All(3).bits(), 0b111u);
  EXPECT_EQ(ShardMask::All(64).count(), 64u);
  EXPECT_TRUE(ShardMask::All(64).has(63));
  EXPECT_EQ(ShardMask::All(4).Without(ShardMask::Of(2)), ShardMask(0b1011));
}

TEST(FanOut, EveryAcceptedTargetHoldsOneReference) {
  CountedPayload payload;
  std::vector<uint32_t> posted;
  const ShardMask refused = FanOut(ShardMask(0b1101), &payload, [&](uint32_t shard) {
    posted.push_back(shard);
    return true;
  });
  EXPECT_TRUE(refused.empty());
  EXPECT_EQ(posted, (std::vector<uint32_t>{0, 2, 3}));
  EXPECT_EQ(payload.refs, 3);  // The caller's one became one per target.
}

TEST(FanOut, ARefusedTargetGivesItsReferenceBackAndIsReported) {
  CountedPayload payload;
  const ShardMask refused =
      FanOut(ShardMask(0b1111), &payload, [](uint32_t shard) { return shard % 2 == 0; });
  EXPECT_EQ(refused, ShardMask(0b1010));
  EXPECT_EQ(payload.refs, 2);
  EXPECT_FALSE(payload.freed);
}

TEST(FanOut, EveryTargetRefusingFreesThePayload) {
  CountedPayload payload;
  const ShardMask refused = FanOut(ShardMask(0b110), &payload, [](uint32_t) { return false; });
  EXPECT_EQ(refused, ShardMask(0b110));
  EXPECT_TRUE(payload.freed);
}

TEST(FanOut, NoTargetReleasesTheCallersReference) {
  CountedPayload payload;
  bool posted = false;
  FanOut(ShardMask(), &payload, [&](uint32_t) { return posted = true; });
  EXPECT_FALSE(posted);
  EXPECT_TRUE(payload.freed);
}

// A target may run its mail (and drop its reference) before the fan-out posts to the next one:
// the references must all be there before the first post.
TEST(FanOut, ReferencesAreTakenBeforeTheFirstPost) {
  CountedPayload payload;
  FanOut(ShardMask(0b111), &payload, [&](uint32_t) {
    EXPECT_FALSE(payload.freed) << "a target ran on a payload already freed";
    payload.Release();  // The target ran at once.
    return true;
  });
  EXPECT_TRUE(payload.freed);
}

}  // namespace
}  // namespace ringcast
