// ExternalMail: mail to a shard from a thread that is not a shard (worker threads, storage
// threads, anything a library runs its callbacks on).
//
// Owner: ShardSet. Mailbox queues are single-producer, so each posting thread claims one of the
// matrix's external source slots the first time it posts (a lock-free counter) and keeps it for
// its lifetime; it also gets a small io_uring of its own, only to ring shards' doorbells with
// MSG_RING like shards do among themselves (mailbox.h). After that first post, posting is a
// queue push and at most one doorbell, with no lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "core/runtime/mailbox.h"

namespace ringcast {

class ExternalMail {
 public:
  // `ring_fds[i]` is shard i's ring. External sources are mailboxes.shards() .. sources() - 1.
  ExternalMail(MailboxMatrix& mailboxes, std::vector<int> ring_fds);
  ExternalMail(const ExternalMail&) = delete;
  ExternalMail& operator=(const ExternalMail&) = delete;

  // Any non-shard thread; at most sources() - shards() distinct threads over the process's life
  // (CHECKed). Waits (yields) only when the target's queue is full, i.e. the shard is stalled.
  void Post(uint32_t target, const Mail& mail);

 private:
  struct ThreadSlot;
  ThreadSlot& Slot();

  MailboxMatrix& mailboxes_;
  std::vector<int> ring_fds_;
  std::atomic<uint32_t> next_source_;
};

}  // namespace ringcast
