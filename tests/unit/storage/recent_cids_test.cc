#include "storage/recent_cids.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

namespace ringcast::storage {
namespace {

// A chunk is as large as asked (or everything held) wherever the sweep stands: a sweep that
// stopped at the top of the key space handed out a few entries while appends kept coming, and
// the store refused appends once it held twice its bound (the soak test at a 1,024 bound).
TEST(RecentCidsTest, AChunkNearTheTopOfTheKeysGoesRoundToTheLowest) {
  RecentCids cids;
  for (int64_t sender = 1; sender <= 10; ++sender) cids.Add(sender, "c", sender * 100);
  std::vector<RecentCids::Entry> first = cids.NextChunk(8);
  ASSERT_EQ(first.size(), 8u);
  EXPECT_EQ(first.front().sender, 1);
  EXPECT_EQ(first.back().sender, 8);
  cids.Merged(first);
  for (int64_t sender = 1; sender <= 5; ++sender) cids.Add(sender, "d", 2000 + sender);

  std::vector<RecentCids::Entry> second = cids.NextChunk(4);
  ASSERT_EQ(second.size(), 4u);
  EXPECT_EQ(second[0].sender, 9);  // Above where the last chunk ended, then round.
  EXPECT_EQ(second[1].sender, 10);
  EXPECT_EQ(second[2].sender, 1);
  EXPECT_EQ(second[3].sender, 2);

  // Asked for more than is held: everything, each entry once.
  std::vector<RecentCids::Entry> all = cids.NextChunk(100);
  EXPECT_EQ(all.size(), cids.size());
  std::set<std::pair<int64_t, std::string>> seen;
  for (const RecentCids::Entry& e : all) EXPECT_TRUE(seen.emplace(e.sender, e.cid).second);
}

TEST(RecentCidsTest, ASweepMergesEveryEntryAndTheLowestIdFollows) {
  RecentCids cids;
  for (int64_t i = 0; i < 50; ++i) cids.Add(i % 7, "c" + std::to_string(i), 1000 + i);
  std::vector<RecentCids::Entry> chunk = cids.NextChunk(20);
  ASSERT_EQ(chunk.size(), 20u);
  std::optional<int64_t> lowest = cids.LowestIdBesides(chunk);
  ASSERT_TRUE(lowest.has_value());
  for (const RecentCids::Entry& e : chunk) EXPECT_NE(e.id, *lowest);
  while (cids.size() != 0) {
    chunk = cids.NextChunk(20);
    ASSERT_FALSE(chunk.empty());
    cids.Merged(chunk);
  }
  EXPECT_FALSE(cids.LowestIdBesides({}).has_value());
}

TEST(RecentCidsTest, AStaleHintIsForgottenOnlyWhileItNamesThatMessage) {
  RecentCids cids;
  cids.Add(1, "x", 10);
  cids.Forget(1, "x", 11);
  EXPECT_EQ(cids.Find(1, "x"), 10);
  cids.Add(1, "x", 12);  // Re-added by a later append: the newer id wins.
  cids.Forget(1, "x", 10);
  EXPECT_EQ(cids.Find(1, "x"), 12);
  cids.Forget(1, "x", 12);
  EXPECT_FALSE(cids.Find(1, "x").has_value());
  EXPECT_EQ(cids.size(), 0u);
}

}  // namespace
}  // namespace ringcast::storage
