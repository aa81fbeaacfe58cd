#include "core/runtime/mailbox.h"

namespace ringcast {

MailboxMatrix::MailboxMatrix(uint32_t shards, size_t capacity, size_t inbox_capacity)
    : shards_(shards), doorbells_(std::make_unique<PaddedFlag[]>(shards)) {
  queues_.reserve(size_t{shards} * shards);
  for (uint32_t i = 0; i < shards * shards; ++i) {
    // The diagonal is never used: a shard calls itself directly.
    bool diagonal = i / shards == i % shards;
    queues_.push_back(diagonal ? nullptr : std::make_unique<SpscQueue<Mail>>(capacity));
  }
  for (uint32_t i = 0; i < shards; ++i) {
    inboxes_.push_back(std::make_unique<MpscInbox<Mail>>(inbox_capacity));
  }
}

}  // namespace ringcast
