// Mailboxes: one bounded SPSC queue for every ordered pair of shards, one multi-producer inbox
// per shard for every thread that is not a shard (workers, storage; external_mail.h), and one
// doorbell per shard.
//
// Owner: ShardSet creates the matrix before the shard threads start; afterwards queue (from, to)
// is pushed only by shard `from` and popped only by shard `to`; shard `to`'s inbox is pushed by
// any other thread and drained and closed by shard `to` (mpsc_inbox.h). A mail is a function
// pointer and three words, so posting never allocates; what a mail points to is owned by the
// mail until its function runs on the target shard (or, when a post is refused, by the poster).
//
// Wakeup protocol (no mutex, at most one wakeup in flight per target): after pushing, a producer
// rings the target's doorbell only if it flips `doorbell` from false to true, by posting an
// IORING_OP_MSG_RING completion into the target's ring. The target clears the flag when it
// reaps that completion and then drains every inbound queue. A producer that finds the flag
// already set knows the target has yet to clear it, so the target will drain after the push.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/runtime/mpsc_inbox.h"
#include "core/runtime/spsc_queue.h"

namespace ringcast {

class Shard;

struct Mail {
  void (*run)(Shard& target, const Mail& mail) = nullptr;
  void* ptr = nullptr;
  uint64_t a = 0;
  uint64_t b = 0;
};

class MailboxMatrix {
 public:
  // `capacity` mails per pair of shards, `inbox_capacity` per shard's inbox.
  MailboxMatrix(uint32_t shards, size_t capacity, size_t inbox_capacity);

  uint32_t shards() const { return shards_; }
  SpscQueue<Mail>& Queue(uint32_t from, uint32_t to) { return *queues_[from * shards_ + to]; }
  MpscInbox<Mail>& Inbox(uint32_t to) { return *inboxes_[to]; }
  std::atomic<bool>& Doorbell(uint32_t to) { return doorbells_[to].rung; }

 private:
  struct alignas(64) PaddedFlag {
    std::atomic<bool> rung{false};
  };
  uint32_t shards_;
  std::vector<std::unique_ptr<SpscQueue<Mail>>> queues_;
  std::vector<std::unique_ptr<MpscInbox<Mail>>> inboxes_;
  std::unique_ptr<PaddedFlag[]> doorbells_;
};

}  // namespace ringcast
