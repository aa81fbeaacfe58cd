#include "core/pubsub/topic_interest.h"

#include "core/log.h"

namespace ringcast {

TopicInterest::TopicInterest(uint32_t shards)
    : shards_(shards),
      masks_(std::make_unique<std::atomic<uint64_t>[]>(size_t{shards} * kSlots)),
      counts_(std::make_unique<Counts[]>(shards)) {
  CHECK(shards >= 1 && shards <= 64);
}

void TopicInterest::Add(uint32_t home, uint32_t slot, uint32_t shard) {
  DCHECK(home < shards_ && slot < kSlots && shard < shards_);
  if (++counts_[home].by_slot_shard[slot * 64 + shard] == 1) {
    masks_[size_t{home} * kSlots + slot].fetch_or(uint64_t{1} << shard, std::memory_order_release);
  }
}

void TopicInterest::Remove(uint32_t home, uint32_t slot, uint32_t shard) {
  DCHECK(home < shards_ && slot < kSlots && shard < shards_);
  auto& counts = counts_[home].by_slot_shard;
  auto it = counts.find(slot * 64 + shard);
  CHECK(it != counts.end());
  if (--it->second != 0) return;
  counts.erase(it);
  masks_[size_t{home} * kSlots + slot].fetch_and(~(uint64_t{1} << shard),
                                                 std::memory_order_release);
}

}  // namespace ringcast
