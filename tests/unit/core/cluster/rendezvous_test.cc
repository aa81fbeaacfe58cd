// Rendezvous hashing (core/cluster/rendezvous.h): the owner of a key depends only on the set of
// nodes, a node leaving moves only its own keys, and keys spread evenly.
#include "core/cluster/rendezvous.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace ringcast::cluster {
namespace {

TEST(RendezvousTest, NoNodesOwnsNothing) { EXPECT_EQ(RendezvousOwner(1, {}), ""); }

TEST(RendezvousTest, TheOwnerDoesNotDependOnTheListOrder) {
  const std::vector<std::string> a = {"n1", "n2", "n3"}, b = {"n3", "n1", "n2"};
  for (uint64_t key = 0; key < 1000; ++key) {
    EXPECT_EQ(RendezvousOwner(key, a), RendezvousOwner(key, b)) << key;
  }
}

TEST(RendezvousTest, ANodeLeavingMovesOnlyItsOwnKeys) {
  const std::vector<std::string> three = {"n1", "n2", "n3"}, two = {"n1", "n3"};
  int moved = 0;
  for (uint64_t key = 0; key < 3000; ++key) {
    const std::string_view before = RendezvousOwner(key, three);
    const std::string_view after = RendezvousOwner(key, two);
    if (before != "n2") {
      EXPECT_EQ(before, after) << key;
    }
    moved += before != after;
  }
  EXPECT_GT(moved, 0);
}

TEST(RendezvousTest, KeysSpreadEvenly) {
  const std::vector<std::string> nodes = {"node-a", "node-b", "node-c", "node-d"};
  std::map<std::string_view, int> owned;
  constexpr int kKeys = 40000;
  for (uint64_t key = 1; key <= kKeys; ++key) ++owned[RendezvousOwner(key, nodes)];
  ASSERT_EQ(owned.size(), nodes.size());
  for (const auto& [node, count] : owned) {
    EXPECT_NEAR(count, kKeys / 4, kKeys / 40) << node;  // Within 10% of a fair share.
  }
}

}  // namespace
}  // namespace ringcast::cluster
