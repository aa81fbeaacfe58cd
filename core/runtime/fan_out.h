// Fan-out to shards: one mail to each shard of a set, every mail pointing at the same payload
// (an encoded frame, a publication), so that what a publish costs grows with the shards that
// want it, never with its recipients.
//
// The rules every fan-out keeps, held here once rather than at each publisher:
//  - the payload holds one reference per target before the first post, because a target may run
//    its mail and drop its reference while this loop is still posting to the others;
//  - a post that is refused (the target far behind, or stopped) gives its reference back at once;
//  - the caller learns which targets refused (a conversation's owner marks them lagging and
//    refills them in order).
// Its users: a conversation's events (ConversationOwner::Publish), presence changes
// (BroadcastPresenceChange), and /raw publications from a shard and from the Redis bus
// (TopicTable). A task for several shards (ChatService::PostToEveryShard: profile news,
// revocations; a conversation's mentions) is no fan-out of this kind: each shard gets its own
// task, and a refused one is held and posted again, never dropped. docs/architecture.md, "Fan-out".
#pragma once

#include <bit>
#include <cstdint>

namespace ringcast {

// A set of shards, one bit each (--threads allows at most 64).
class ShardMask {
 public:
  constexpr ShardMask() = default;
  constexpr explicit ShardMask(uint64_t bits) : bits_(bits) {}
  static constexpr ShardMask All(uint32_t shards) {
    return ShardMask(shards >= 64 ? ~uint64_t{0} : (uint64_t{1} << shards) - 1);
  }
  static constexpr ShardMask Of(uint32_t shard) { return ShardMask(uint64_t{1} << shard); }

  constexpr uint64_t bits() const { return bits_; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr uint32_t count() const { return static_cast<uint32_t>(std::popcount(bits_)); }
  constexpr bool has(uint32_t shard) const { return (bits_ >> shard & 1) != 0; }
  constexpr void Add(uint32_t shard) { bits_ |= uint64_t{1} << shard; }
  constexpr ShardMask Without(ShardMask other) const { return ShardMask(bits_ & ~other.bits_); }

  // `visit(shard)` for each shard in the set, lowest first.
  template <typename Visit>
  constexpr void ForEach(Visit&& visit) const {
    for (uint64_t rest = bits_; rest != 0; rest &= rest - 1) {
      visit(static_cast<uint32_t>(std::countr_zero(rest)));
    }
  }

  friend constexpr bool operator==(ShardMask, ShardMask) = default;

 private:
  uint64_t bits_ = 0;
};

// Posts `payload` to every shard in `targets`: `post(shard)` posts that shard's mail (pointing
// at the payload) and says whether it was queued. `payload` holds one reference, which the
// fan-out takes over; it has AddRefs(n) and Release() (SharedFrame, TopicTable's publication).
// With no target the reference is released. Returns the targets that refused.
template <typename Payload, typename Post>
ShardMask FanOut(ShardMask targets, Payload* payload, Post&& post) {
  if (targets.empty()) {
    payload->Release();
    return {};
  }
  if (const uint32_t more = targets.count() - 1; more > 0) payload->AddRefs(more);
  ShardMask refused;
  targets.ForEach([&](uint32_t shard) {
    if (post(shard)) return;
    payload->Release();
    refused.Add(shard);
  });
  return refused;
}

}  // namespace ringcast
