#include "core/runtime/external_mail.h"

#include <liburing.h>

#include <thread>

#include "core/log.h"
#include "core/runtime/shard.h"

namespace ringcast {

struct ExternalMail::ThreadSlot {
  const ExternalMail* owner = nullptr;
  uint32_t source = 0;
  bool have_ring = false;
  io_uring ring{};

  ~ThreadSlot() {
    if (have_ring) io_uring_queue_exit(&ring);
  }
};

ExternalMail::ExternalMail(MailboxMatrix& mailboxes, std::vector<int> ring_fds)
    : mailboxes_(mailboxes), ring_fds_(std::move(ring_fds)), next_source_(mailboxes.shards()) {}

ExternalMail::ThreadSlot& ExternalMail::Slot() {
  thread_local ThreadSlot slot;
  if (slot.owner != this) {
    uint32_t source = next_source_.fetch_add(1, std::memory_order_relaxed);
    CHECK(source < mailboxes_.sources());  // More posting threads than reserved sources.
    if (slot.have_ring) io_uring_queue_exit(&slot.ring);
    slot.owner = this;
    slot.source = source;
    slot.have_ring = io_uring_queue_init(8, &slot.ring, 0) == 0;
    if (!slot.have_ring)
      RC_LOG(kWarn, "no io_uring for mail wakeups; shards see it at their next tick");
  }
  return slot;
}

void ExternalMail::Post(uint32_t target, const Mail& mail) {
  ThreadSlot& slot = Slot();
  while (!mailboxes_.Queue(slot.source, target).TryPush(Mail(mail))) std::this_thread::yield();
  if (!slot.have_ring || mailboxes_.Doorbell(target).exchange(true)) return;
  io_uring_sqe* sqe = io_uring_get_sqe(&slot.ring);
  io_uring_prep_msg_ring(sqe, ring_fds_[target], 0, Shard::WakeupTag(), 0);
  io_uring_submit_and_wait(&slot.ring, 1);
  io_uring_cqe* cqe;
  if (io_uring_peek_cqe(&slot.ring, &cqe) == 0) io_uring_cqe_seen(&slot.ring, cqe);
}

}  // namespace ringcast
