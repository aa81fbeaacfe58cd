#include "core/runtime/reactor.h"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/runtime/deferred_wakes.h"
#include "core/runtime/shard_set.h"

namespace ringcast {
namespace {

constexpr uint16_t kBufferGroup = 0;
// How often a shard that has nothing left to close looks whether the others have finished too.
constexpr uint32_t kQuietPollMs = 5;
// Mails run per source (each other shard, the inbox) per loop iteration at most, so that
// producers that keep up with the drain cannot keep the loop from its I/O, timers and shutdown.
constexpr size_t kMailBudget = 1024;

}  // namespace

Reactor::Reactor(Shard& shard, ShardSet& set, uint32_t id, MailboxMatrix& mailboxes,
                 uint32_t max_mail_backlog)
    : shard_(shard),
      set_(set),
      id_(id),
      mailboxes_(mailboxes),
      max_mail_backlog_(max_mail_backlog),
      timers_(4096, 0),
      outboxes_(mailboxes.shards()) {
  Register(Op::kIgnore, &Reactor::OnAuxiliary, this);
  Register(
      Op::kDoorbell, [](void*, const io_uring_cqe&) {}, nullptr);  // DrainMail ran.
  Register(Op::kIoTarget, &Reactor::OnIoTarget, this);
}

uint64_t Reactor::NowTick() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return (uint64_t(now.tv_sec) * 1000 + uint64_t(now.tv_nsec) / 1000000) / kTickMs;
}

int Reactor::Init(unsigned entries, uint32_t buffers, uint32_t buffer_size) {
  int rc = ring_.Init(entries);
  if (rc < 0) {
    RC_LOG(kError,
           "shard %u: io_uring_setup failed: %s. io_uring may be disabled "
           "(sysctl kernel.io_uring_disabled, a container seccomp profile) or the memlock limit "
           "too low (ulimit -l)",
           id_, strerror(-rc));
    return rc;
  }
  if (std::string missing = ring_.features().Missing(); !missing.empty()) {
    RC_LOG(kError,
           "shard %u: this kernel lacks io_uring features ringcast needs (%s); Linux 6.0 "
           "or newer is required",
           id_, missing.c_str());
    return -ENOSYS;
  }
  rc = buffers_.Init(ring_.raw(), kBufferGroup, buffers, buffer_size);
  if (rc < 0) {
    RC_LOG(kError, "shard %u: cannot register %u receive buffers of %u bytes: %s", id_, buffers,
           buffer_size, strerror(-rc));
    return rc;
  }
  timers_.Advance(NowTick(), [](TimerEntry*) {});
  return 0;
}

void Reactor::Register(Op op, CompletionFn fn, void* context) {
  Handler& handler = handlers_[static_cast<size_t>(op)];
  CHECK(handler.fn == nullptr);
  handler = {fn, context};
}

void Reactor::RequestStop(bool hurry) {
  if (hurry) hurry_requested_.store(true, std::memory_order_release);
  stop_requested_.store(true, std::memory_order_release);
}

void Reactor::Run(Owner& owner) {
  DeferredWakes wakes;  // The store's wake-ups for this turn's submissions, given before waiting.
  while (!done_) {
    buffers_.Commit();  // Before re-arming receives that ended with -ENOBUFS.
    owner.Flush();
    FlushMail();
    owner.Release();
    if (stopping_ && ReadyToLeave(owner)) break;

    // Mail to ourselves rings no doorbell, nor does mail a bounded drain left behind: when
    // there is some, only submit, never sleep on it. A quiet shard waits for the others
    // without a doorbell for it either: it polls.
    bool own_mail = mail_left_ || !outboxes_[id_].overflow.empty() || last_pass_;
    __kernel_timespec timeout{0, own_mail ? 0 : (quiet_ ? kQuietPollMs : kTickMs) * 1000 * 1000};
    io_uring_cqe* cqe = nullptr;
    wakes.Flush();
    int rc =
        io_uring_submit_and_wait_timeout(ring_.raw(), &cqe, own_mail ? 0 : 1, &timeout, nullptr);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      RC_LOG(kError, "shard %u: io_uring wait failed: %s", id_, strerror(-rc));
    }
    DrainMail();
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(ring_.raw(), head, cqe) {
      const size_t op = cqe->user_data >> 56;
      DCHECK(op < handlers_.size() && handlers_[op].fn != nullptr);
      const Handler& handler = handlers_[op];
      handler.fn(handler.context, *cqe);
      ++seen;
    }
    io_uring_cq_advance(ring_.raw(), seen);
    ++loop_counts_.turns;
    loop_counts_.completions += seen;
    if (stop_requested_.load(std::memory_order_acquire) && !stopping_) {
      stopping_ = true;
      stop_deadline_ = NowTick() + SecondsToTicks(shutdown_timeout_s_);
      owner.BeginShutdown();
    }
    if (stopping_ && hurry_requested_.load(std::memory_order_acquire)) {
      stop_deadline_ = std::min(stop_deadline_, NowTick());  // Close what is left now.
    }
    AdvanceTimers(owner);
    owner.EndIteration();
  }
  CloseInbox();
  RC_LOG(kInfo, "shard %u: stopped", id_);
}

void Reactor::OnAuxiliary(void* self, const io_uring_cqe& cqe) {
  if (cqe.res < 0 && cqe.res != -ENOENT && cqe.res != -EALREADY) {
    RC_LOG(kDebug, "shard %u: auxiliary operation failed: %s", static_cast<Reactor*>(self)->id_,
           strerror(-cqe.res));
  }
}

void Reactor::OnIoTarget(void* self, const io_uring_cqe& cqe) {
  auto& targets = static_cast<Reactor*>(self)->io_targets_;
  OpTag tag = ParseTag(cqe.user_data);
  auto target = targets.find(tag.slot);
  if (target != targets.end()) target->second->OnIoComplete(tag.generation, cqe.res);
}

uint32_t Reactor::AddIoTarget(IoTarget* target) {
  uint32_t id;
  do {
    id = next_io_target_++;
  } while (io_targets_.contains(id));
  io_targets_[id] = target;
  return id;
}

bool Reactor::WarnAllowed() {
  if (timers_.now() < next_warning_tick_) return false;
  next_warning_tick_ = timers_.now() + SecondsToTicks(1);
  return true;
}

void Reactor::AdvanceTimers(Owner& owner) {
  uint64_t now = NowTick();
  if (now == timers_.now()) return;
  timers_.Advance(now, [&owner](TimerEntry* entry) { owner.OnTimer(entry); });
  owner.OnTick(now);
}

// Connections gone is not enough to leave. Work the application started must come back while
// every shard still runs (the chat in cluster mode: a commit whose reply publishes it to the
// other nodes). And what the other shards post while closing their own connections must still
// run here (the chat: a user's detach, mailed to the user's owner shard, which tells Redis):
// a connection's OnClose runs, and its mail is pushed to the target's queue, before the
// connection is released, so once every shard is quiet, one more iteration that drains the
// mail is all that is left. (What that last mail posts in turn runs on the main thread after
// the stopped hook: DeliverLeftoverMail.)
bool Reactor::ReadyToLeave(const Owner& owner) {
  if (!quiet_) {
    if (owner.Busy()) return false;
    // Mail that found a queue full (or posted to ourselves) is still ours to deliver.
    for (const Outbox& box : outboxes_) {
      if (!box.overflow.empty()) return false;
    }
    quiet_ = true;
    set_.MarkQuiet();
  }
  if (!set_.AllQuiet()) return false;
  if (last_pass_ && !mail_left_) return true;  // Drained it all, past the per-iteration bound.
  last_pass_ = true;
  return false;
}

// ---- Mail ----------------------------------------------------------------------------------

uint64_t Reactor::mailbox_depth() const {
  uint64_t depth = 0;
  for (uint32_t from = 0; from < shard_count(); ++from) {
    if (from != id_) depth += mailboxes_.Queue(from, id_).SizeHint();  // No queue to itself.
  }
  return depth;
}

bool Reactor::Post(uint32_t target, const Mail& mail) {
  Outbox& box = outboxes_[target];
  if (target != id_ && box.overflow.empty() && mailboxes_.Queue(id_, target).TryPush(Mail(mail))) {
    box.ring = true;
    return true;
  }
  // For self: run at the next DrainMail, never re-entrantly. For others: the queue is full, so
  // the target has 4096 mails from us still to run; keep order behind them, up to the bound.
  if (box.overflow.size() >= max_mail_backlog_) {
    ++refused_mail_;
    if (WarnAllowed()) {
      RC_LOG(kWarn,
             "shard %u: %zu mails already wait for shard %u (--max-mail-backlog): refusing "
             "mail (%llu refused so far); that shard is not keeping up",
             id_, box.overflow.size(), target, static_cast<unsigned long long>(refused_mail_));
    }
    return false;
  }
  box.overflow.push_back(mail);
  box.ring = true;
  return true;
}

void Reactor::FlushMail() {
  for (uint32_t target = 0; target < shard_count(); ++target) {
    Outbox& box = outboxes_[target];
    if (!box.ring || target == id_) continue;
    SpscQueue<Mail>& queue = mailboxes_.Queue(id_, target);
    while (!box.overflow.empty() && queue.TryPush(Mail(box.overflow.front()))) {
      box.overflow.pop_front();
    }
    box.ring = !box.overflow.empty();  // Retry next iteration.
    RingDoorbell(target);
  }
}

void Reactor::DrainMail() {
  // Clear before draining: a producer that still sees the doorbell set pushed before this store
  // and is drained below; one that sees it clear rings again.
  mailboxes_.Doorbell(id_).store(false, std::memory_order_seq_cst);
  // Each source gives at most kMailBudget mails per iteration: producers that keep up with the
  // drain (a store replying as fast as it commits) must not keep the loop from its I/O,
  // timers and shutdown. What is left makes the next wait a poll (mail_left_).
  mail_left_ = false;
  std::deque<Mail>& own = outboxes_[id_].overflow;
  for (size_t n = own.size(); n > 0; --n) {  // Not what these post to ourselves: next time.
    Mail mail = own.front();
    own.pop_front();
    mail.run(shard_, mail);
  }
  outboxes_[id_].ring = false;
  mail_left_ |= !own.empty();
  for (uint32_t source = 0; source < shard_count(); ++source) {
    if (source == id_) continue;
    SpscQueue<Mail>& queue = mailboxes_.Queue(source, id_);
    Mail mail;
    size_t budget = kMailBudget;
    while (budget > 0 && queue.TryPop(&mail)) {
      mail.run(shard_, mail);
      --budget;
    }
    mail_left_ |= budget == 0;
  }
  mail_left_ |= mailboxes_.Inbox(id_).Drain([this](Mail& mail) { mail.run(shard_, mail); },
                                            kMailBudget) == kMailBudget;
}

void Reactor::CloseInbox() {
  // Refuse mail from other threads from now on (their Post returns kClosed and they free it),
  // then run what was accepted before: every accepted mail runs, on this thread, exactly once.
  MpscInbox<Mail>& inbox = mailboxes_.Inbox(id_);
  inbox.Close();
  size_t ran = inbox.Drain([this](Mail& mail) { mail.run(shard_, mail); });
  if (ran > 0) RC_LOG(kDebug, "shard %u: ran %zu mails left in its inbox", id_, ran);
}

void Reactor::DeliverLeftoverMail() {
  auto run_all = [this](std::deque<Mail>& overflow) {
    while (!overflow.empty()) {
      Mail mail = overflow.front();
      overflow.pop_front();
      mail.run(shard_, mail);
    }
  };
  run_all(outboxes_[id_].overflow);
  for (uint32_t source = 0; source < shard_count(); ++source) {
    if (source == id_) continue;
    Mail mail;
    // Queued mail first: it is older than the overflow from the same source.
    while (mailboxes_.Queue(source, id_).TryPop(&mail)) mail.run(shard_, mail);
    run_all(set_.shard(source).reactor().overflow_for(id_));
  }
}

void Reactor::RingDoorbell(uint32_t target) {
  if (mailboxes_.Doorbell(target).exchange(true, std::memory_order_seq_cst)) return;
  io_uring_sqe* sqe = ring_.GetSqe();
  // IORING_OP_MSG_RING (5.18): posts a completion tagged kDoorbell into the target's ring.
  io_uring_prep_msg_ring(sqe, set_.shard(target).ring_fd(), 0, MakeTag(Op::kDoorbell), 0);
  io_uring_sqe_set_data64(sqe, MakeTag(Op::kIgnore));
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

}  // namespace ringcast
