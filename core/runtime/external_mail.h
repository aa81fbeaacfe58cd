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
// Back-pressure and shutdown: Post() never blocks. Past a full inbox (--inbox-size) mail goes
// to the inbox's overflow (mpsc_inbox.h), which the shard drains once the inbox is empty:
//   - kMustArrive (store completions, worker results): the overflow takes it whatever its
//     size. What bounds it is the poster's own admission: a store holds at most its queue's
//     limit of requests, a worker class its --workers-*-queue, so their completions cannot
//     outgrow those limits.
//   - kMayFail (the Redis bus's deliveries): at most --inbox-size more in the overflow; past
//     it Post() answers kFull and the caller falls back on its own recovery (the bus marks the
//     conversation "maybe missed", and the owner refills it from the store).
// Once the shard has left its loop its inbox is closed and Post() returns kClosed. On kFull or
// kClosed the mail was not queued and its poster still owns (and must free) what it points to.
// So a stalled shard stalls none of its posters: the Redis bus and the store's threads go on
// serving the other shards.
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

  enum class Delivery : uint8_t { kMustArrive, kMayFail };

  // Any non-shard thread, never waiting. kQueued: `mail.run` will run on shard `target`.
  // kClosed (the shard has stopped) or kFull (kMayFail only): refused; the caller frees what
  // the mail points to.
  [[nodiscard]] PushResult Post(uint32_t target, Mail mail,
                                Delivery delivery = Delivery::kMustArrive);

 private:
  MailboxMatrix& mailboxes_;
  std::vector<int> ring_fds_;
};

}  // namespace ringcast
