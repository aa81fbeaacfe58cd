// ExternalMail: mail to a shard from a thread that is not a shard (worker threads, storage
// threads, anything a library runs its callbacks on).
//
// Owner: ShardSet. Any number of threads may post, none registered beforehand: each post goes
// into the target shard's multi-producer inbox (mpsc_inbox.h), and the posting thread rings the
// shard's doorbell with IORING_OP_MSG_RING (5.18) from a small io_uring of its own, made on its
// first post and kept until the thread exits (mailbox.h has the wakeup protocol).
//
// Ordering: mail from one thread to one shard runs in the order it was posted (per-producer
// FIFO); nothing is promised between threads, or between a thread's mail to different shards.
//
// Back-pressure and shutdown: Post() blocks (a futex wait, never a spin) while the target's
// inbox is full and the shard still runs, so a thread that produces faster than a shard drains
// is slowed to the shard's pace. Once the shard has left its loop its inbox is closed and
// Post() returns kClosed at once, also to a thread that was waiting: the mail was not queued
// and its poster still owns (and must free) what it points to. A stalled but running shard
// therefore stalls its posters, not the process; a stopped one never does.
#pragma once

#include <cstdint>
#include <vector>

#include "core/runtime/mailbox.h"

namespace ringcast {

class ExternalMail {
 public:
  // `ring_fds[i]` is shard i's ring.
  ExternalMail(MailboxMatrix& mailboxes, std::vector<int> ring_fds);
  ExternalMail(const ExternalMail&) = delete;
  ExternalMail& operator=(const ExternalMail&) = delete;

  // Any non-shard thread. kQueued: `mail.run` will run on shard `target`. kClosed: refused
  // (the shard has stopped); the caller frees what the mail points to.
  [[nodiscard]] PushResult Post(uint32_t target, Mail mail);

 private:
  MailboxMatrix& mailboxes_;
  std::vector<int> ring_fds_;
};

}  // namespace ringcast
