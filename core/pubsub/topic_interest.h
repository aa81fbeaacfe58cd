// TopicInterest: the snapshot of topic interest that a thread other than the shards reads
// without a lock (the Redis bus, to post a publication from another node straight to the shards
// with subscribers, not through the topic's home; docs/architecture.md, "Fan-out across shards").
//
// Owner: built before the shards run (by the ClusterNode); row `home` is written only by shard
// `home`, for the topics it is home to (TopicTable::SetInterest), and read by any thread.
//
// Protocol: a row holds, per hash slot of a topic, a mask of the shards that may have a
// subscriber of a topic in that slot: the union over the slot's topics (several topics share a
// slot), so it over-approximates and never under-approximates what the home knows. A shard it
// names with no subscriber drops the publication (TopicTable::OnPublication), which costs a mail
// and never a miss. The home sets a shard's bit (release) before anything else it does for
// that interest, the Redis SUBSCRIBE of a topic's first interest included, so a publication
// that SUBSCRIBE lets in is read (acquire) with the bit set; it clears a bit only once no topic
// of the slot has that shard's interest. A shard whose first subscriber came is therefore in
// the mask from the moment its home has recorded it, as it was in the home's own table, which
// the home used to forward a publication the bus had posted to it: the window in which a
// publication misses a new subscriber is the same hop (the subscriber's shard → its home), no
// longer and not new (core/pubsub/topic_table.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <unordered_map>

namespace ringcast {

class TopicInterest {
 public:
  // Slots per home shard: more only thin out the spurious mails of topics sharing a slot.
  static constexpr uint32_t kSlots = 1024;

  // Up to 64 shards (the bit masks; --threads allows no more).
  explicit TopicInterest(uint32_t shards);

  static uint32_t SlotOf(std::string_view topic, uint32_t shards) {
    // Above the home's part of the hash (HomeOf takes it modulo the shards).
    return static_cast<uint32_t>(std::hash<std::string_view>{}(topic) / shards % kSlots);
  }

  // Shard `home` only: `shard` gained (or lost) its interest in one topic of `slot`.
  void Add(uint32_t home, uint32_t slot, uint32_t shard);
  void Remove(uint32_t home, uint32_t slot, uint32_t shard);

  // Any thread: the shards that may have a subscriber of a topic of `home`'s `slot`.
  uint64_t Read(uint32_t home, uint32_t slot) const {
    return masks_[size_t{home} * kSlots + slot].load(std::memory_order_acquire);
  }

 private:
  // Per home: topics with the interest of a shard per (slot, shard), only where not zero;
  // each home's on a cache line of its own.
  struct alignas(64) Counts {
    std::unordered_map<uint32_t, uint32_t> by_slot_shard;
  };
  const uint32_t shards_;
  std::unique_ptr<std::atomic<uint64_t>[]> masks_;
  std::unique_ptr<Counts[]> counts_;
};

}  // namespace ringcast
