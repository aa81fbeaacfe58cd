#include "core/runtime/external_mail.h"

#include <liburing.h>

#include "core/log.h"
#include "core/runtime/shard.h"

namespace ringcast {
namespace {

// The calling thread's ring for MSG_RING doorbells, made on first use, freed at thread exit.
class DoorbellRing {
 public:
  DoorbellRing() {
    ready_ = io_uring_queue_init(8, &ring_, 0) == 0;
    if (!ready_) RC_LOG(kWarn, "no io_uring for mail wakeups; shards see mail at their next tick");
  }
  ~DoorbellRing() {
    if (ready_) io_uring_queue_exit(&ring_);
  }

  void Ring(int target_ring_fd) {
    if (!ready_) return;
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_msg_ring(sqe, target_ring_fd, 0, Shard::WakeupTag(), 0);
    io_uring_submit_and_wait(&ring_, 1);
    io_uring_cqe* cqe;
    if (io_uring_peek_cqe(&ring_, &cqe) == 0) io_uring_cqe_seen(&ring_, cqe);
  }

 private:
  io_uring ring_{};
  bool ready_ = false;
};

}  // namespace

ExternalMail::ExternalMail(MailboxMatrix& mailboxes, std::vector<int> ring_fds)
    : mailboxes_(mailboxes), ring_fds_(std::move(ring_fds)) {}

PushResult ExternalMail::Post(uint32_t target, Mail mail, Delivery delivery) {
  MpscInbox<Mail>& inbox = mailboxes_.Inbox(target);
  const size_t overflow_limit = delivery == Delivery::kMustArrive ? SIZE_MAX : inbox.capacity();
  return inbox.TryPush(mail, overflow_limit, [this, target] {
    // Inside the inbox's admission: the shard cannot finish closing (and its ring cannot go)
    // before this returns.
    if (mailboxes_.Doorbell(target).exchange(true, std::memory_order_seq_cst)) return;
    thread_local DoorbellRing ring;
    ring.Ring(ring_fds_[target]);
  });
}

}  // namespace ringcast
