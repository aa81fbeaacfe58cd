#include "core/runtime/mailbox.h"

namespace ringcast {

MailboxMatrix::MailboxMatrix(uint32_t shards, uint32_t external_sources, size_t capacity)
    : shards_(shards),
      sources_(shards + external_sources),
      doorbells_(std::make_unique<PaddedFlag[]>(shards)) {
  queues_.reserve(size_t{sources_} * shards);
  for (uint32_t i = 0; i < sources_ * shards; ++i) {
    // The diagonal is never used: a shard calls itself directly.
    bool diagonal = i / shards == i % shards;
    queues_.push_back(diagonal ? nullptr : std::make_unique<SpscQueue<Mail>>(capacity));
  }
}

}  // namespace ringcast
