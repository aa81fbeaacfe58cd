// Rendezvous (highest random weight) hashing: which of a set of nodes owns a key.
//
// Every node that holds the same list computes the same owner without talking to the others,
// and a node joining or leaving moves only the keys it wins or held (docs/cluster.md,
// "Writers"). The weight mixes the key with a hash of the node's id through splitmix64's
// finalizer, so ids that differ in one character still spread keys evenly.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ringcast::cluster {

inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline uint64_t HashNodeId(std::string_view id) {
  uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a.
  for (unsigned char c : id) hash = (hash ^ c) * 0x100000001b3ULL;
  return hash;
}

// The owner of `key` among `nodes`; empty when there are none. Ties (equal weights) go to the
// smaller id, so the answer does not depend on the list's order.
inline std::string_view RendezvousOwner(uint64_t key, std::span<const std::string> nodes) {
  std::string_view best;
  uint64_t best_weight = 0;
  for (const std::string& node : nodes) {
    const uint64_t weight = Mix64(key ^ HashNodeId(node));
    if (best.empty() || weight > best_weight || (weight == best_weight && node < best)) {
      best = node;
      best_weight = weight;
    }
  }
  return best;
}

}  // namespace ringcast::cluster
