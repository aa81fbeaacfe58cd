#include "core/runtime/shard.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/net/listener.h"
#include "core/runtime/deferred_wakes.h"
#include "core/runtime/shard_set.h"

namespace ringcast {
namespace {

constexpr unsigned kRingEntries = 4096;
constexpr uint16_t kBufferGroup = 0;
// After the shutdown deadline, for the cancellations of aborted connections to complete (they
// normally do within an iteration; this bounds a kernel that is slow to).
constexpr uint64_t kShutdownGraceTicks = 10;
// How often a shard that has nothing left to close looks whether the others have finished too.
constexpr uint32_t kQuietPollMs = 5;
// Mails run per source (each other shard, the inbox) per loop iteration at most, so that
// producers that keep up with the drain cannot keep the loop from its I/O, timers and shutdown.
constexpr size_t kMailBudget = 1024;

}  // namespace

thread_local Shard* Shard::current_ = nullptr;

Shard::Shard(ShardSet& set, uint32_t id, const Config& config, MailboxMatrix& mailboxes)
    : set_(set),
      id_(id),
      config_(config),
      mailboxes_(mailboxes),
      topics_(*this),
      timers_(4096, 0),
      outboxes_(mailboxes.shards()) {
  http_limits_.max_header_bytes = config.max_header_bytes;
  // Checked per request once the route is known (HandleHttp): a streamed body has its route's
  // own bound instead.
  http_limits_.max_body_bytes = UINT64_MAX;
}

Shard::~Shard() {
  for (Connection* conn : slots_) delete conn;
  for (SendBatch* batch : batches_) delete batch;
  if (listen_fd_ >= 0) close(listen_fd_);
}

uint64_t Shard::NowTick() const {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return (uint64_t(now.tv_sec) * 1000 + uint64_t(now.tv_nsec) / 1000000) / kTickMs;
}

int Shard::Setup() {
  current_ = this;
  SetLogShard(static_cast<int>(id_));
  if (!config_.access_log.empty()) access_log_ = std::make_unique<AccessLog>();
  int rc = ring_.Init(kRingEntries);
  if (rc < 0) {
    RC_LOG(kError,
           "shard %u: io_uring_setup failed: %s. io_uring may be disabled "
           "(sysctl kernel.io_uring_disabled, a container seccomp profile) or the memlock limit "
           "too low (ulimit -l)",
           id_, strerror(-rc));
    return rc;
  }
  const RingFeatures& features = ring_.features();
  if (std::string missing = features.Missing(); !missing.empty()) {
    RC_LOG(kError,
           "shard %u: this kernel lacks io_uring features ringcast needs (%s); Linux 6.0 "
           "or newer is required",
           id_, missing.c_str());
    return -ENOSYS;
  }
  rc = buffers_.Init(ring_.raw(), kBufferGroup, config_.recv_buffers, config_.recv_buffer_size);
  if (rc < 0) {
    RC_LOG(kError, "shard %u: cannot register %u receive buffers of %u bytes: %s", id_,
           config_.recv_buffers, config_.recv_buffer_size, strerror(-rc));
    return rc;
  }
  if (config_.direct_descriptors) {
    // Each ring's fixed file table is independent of the process fd table (it is only capped by
    // RLIMIT_NOFILE), so N shards can hold N times the process fd limit.
    rc = io_uring_register_files_sparse(ring_.raw(), config_.max_connections);
    if (rc < 0) {
      RC_LOG(kError,
             "shard %u: cannot register a fixed file table of %u entries: %s (lower "
             "--max-connections to the open-file limit, or --no-direct-descriptors)",
             id_, config_.max_connections, strerror(-rc));
      return rc;
    }
  }
  ChoosePeerSource();
  listen_fd_ =
      OpenListener(config_.host, config_.port,
                   {.reuse_port = true, .no_delay = true, .backlog = SOMAXCONN, .what = "--host"});
  if (listen_fd_ < 0) return listen_fd_;
  // Address space only: pages are touched as slots are used, and the tables never move.
  slots_.reserve(config_.max_connections);
  generations_.reserve(config_.max_connections);
  timers_.Advance(NowTick(), [](TimerEntry*) {});
  ArmAccept();
  return 0;
}

WorkerPool& Shard::workers() { return set_.workers(); }

void Shard::RequestStop(bool hurry) {
  if (hurry) hurry_requested_.store(true, std::memory_order_release);
  stop_requested_.store(true, std::memory_order_release);
}

void Shard::Run() {
  DeferredWakes wakes;  // The store's wake-ups for this turn's submissions, given before waiting.
  while (!done_) {
    FlushOutgoing();
    for (Connection* conn : release_list_) {
      CHECK(conn->state_ == Connection::State::kClosed);
      stats_.CountClosed(conn->close_reason_, conn->close_code_);
      uint32_t slot = conn->slot_;
      if (access_log_) access_log_->OnRelease(slot, conn->generation_);
      delete conn;
      if (!http_peers_.empty()) http_peers_.erase(slot);
      slots_[slot] = nullptr;
      free_slots_.push_back(slot);
      --live_connections_;
    }
    release_list_.clear();
    if (stopping_ && ReadyToLeave()) break;

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
      Dispatch(cqe);
      ++seen;
    }
    io_uring_cq_advance(ring_.raw(), seen);
    if (stop_requested_.load(std::memory_order_acquire) && !stopping_) BeginShutdown();
    if (stopping_ && hurry_requested_.load(std::memory_order_acquire)) {
      stop_deadline_ = std::min(stop_deadline_, NowTick());  // Close what is left now.
    }
    AdvanceTimers();
    RunDeferredLeaves();
  }
  CloseInbox();
  RC_LOG(kInfo, "shard %u: stopped", id_);
}

// ---- Mail ----------------------------------------------------------------------------------

cluster::ClusterNode* Shard::cluster() const { return set_.cluster(); }

void Shard::CollectMetrics(MetricSet& out) const {
  uint64_t mailbox = 0;
  for (uint32_t from = 0; from < shard_count(); ++from) {
    if (from != id_) mailbox += mailboxes_.Queue(from, id_).SizeHint();  // No queue to itself.
  }
  stats_.Collect(out, live_connections_, id_, mailbox);
  if (app_) app_->CollectMetrics(out);
}

bool Shard::Post(uint32_t target, const Mail& mail) {
  Outbox& box = outboxes_[target];
  if (target != id_ && box.overflow.empty() && mailboxes_.Queue(id_, target).TryPush(Mail(mail))) {
    box.ring = true;
    return true;
  }
  // For self: run at the next DrainMail, never re-entrantly. For others: the queue is full, so
  // the target has 4096 mails from us still to run; keep order behind them, up to the bound.
  if (box.overflow.size() >= config_.max_mail_backlog) {
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

void Shard::DrainMail() {
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
    mail.run(*this, mail);
  }
  outboxes_[id_].ring = false;
  mail_left_ |= !own.empty();
  for (uint32_t source = 0; source < shard_count(); ++source) {
    if (source == id_) continue;
    SpscQueue<Mail>& queue = mailboxes_.Queue(source, id_);
    Mail mail;
    size_t budget = kMailBudget;
    while (budget > 0 && queue.TryPop(&mail)) {
      mail.run(*this, mail);
      --budget;
    }
    mail_left_ |= budget == 0;
  }
  mail_left_ |= mailboxes_.Inbox(id_).Drain([this](Mail& mail) { mail.run(*this, mail); },
                                            kMailBudget) == kMailBudget;
}

void Shard::CloseInbox() {
  // Refuse mail from other threads from now on (their Post returns kClosed and they free it),
  // then run what was accepted before: every accepted mail runs, on this thread, exactly once.
  MpscInbox<Mail>& inbox = mailboxes_.Inbox(id_);
  inbox.Close();
  size_t ran = inbox.Drain([this](Mail& mail) { mail.run(*this, mail); });
  if (ran > 0) RC_LOG(kDebug, "shard %u: ran %zu mails left in its inbox", id_, ran);
}

void Shard::DeliverLeftoverMail() {
  current_ = this;
  auto run_all = [this](std::deque<Mail>& overflow) {
    while (!overflow.empty()) {
      Mail mail = overflow.front();
      overflow.pop_front();
      mail.run(*this, mail);
    }
  };
  run_all(outboxes_[id_].overflow);
  for (uint32_t source = 0; source < shard_count(); ++source) {
    if (source == id_) continue;
    Mail mail;
    // Queued mail first: it is older than the overflow from the same source.
    while (mailboxes_.Queue(source, id_).TryPop(&mail)) mail.run(*this, mail);
    run_all(set_.shard(source).outboxes_[id_].overflow);
  }
  current_ = nullptr;
}

void Shard::RingDoorbell(uint32_t target) {
  if (mailboxes_.Doorbell(target).exchange(true, std::memory_order_seq_cst)) return;
  io_uring_sqe* sqe = ring_.GetSqe();
  // IORING_OP_MSG_RING (5.18): posts a completion tagged kDoorbell into the target's ring.
  io_uring_prep_msg_ring(sqe, set_.shard(target).ring_fd(), 0, Tag(Op::kDoorbell), 0);
  io_uring_sqe_set_data64(sqe, Tag(Op::kIgnore));
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

// ---- Loop phases -----------------------------------------------------------------------------

void Shard::FlushOutgoing() {
  buffers_.Commit();  // Before re-arming receives that ended with -ENOBUFS.
  for (size_t i = 0; i < flush_list_.size(); ++i) {
    Connection& conn = *flush_list_[i];
    conn.flush_queued_ = false;
    if (conn.state_ == Connection::State::kClosed) continue;
    if (conn.recv_rearm_ && !conn.recv_armed_ && !conn.body_paused_) ArmRecv(conn);
    conn.recv_rearm_ = false;
    if (conn.send_in_flight_) continue;
    if (!conn.send_queue_.empty()) {
      StartSend(conn);
    } else if (conn.close_after_flush_ && conn.state_ == Connection::State::kClosing) {
      // Our last bytes are out: send FIN, then read until the peer's EOF so that closing never
      // resets a connection whose peer has not yet read our close frame (RFC 6455 §7.1.1).
      io_uring_sqe* sqe = ring_.GetSqe();
      io_uring_prep_shutdown(sqe, conn.fd_, SHUT_WR);  // IORING_OP_SHUTDOWN, 5.11.
      if (config_.direct_descriptors) sqe->flags |= IOSQE_FIXED_FILE;
      io_uring_sqe_set_data64(sqe, Tag(Op::kShutdownWrite, conn.slot_, conn.generation_));
      // Tracked until it completes: io_uring runs shutdown on an io-wq worker, later, and looks
      // the descriptor up then. Closing meanwhile would free the descriptor for the next accept,
      // whose write side the late shutdown would then cut.
      conn.shutdown_in_flight_ = true;
      conn.state_ = Connection::State::kDraining;
    }
  }
  flush_list_.clear();
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

void Shard::Dispatch(io_uring_cqe* cqe) {
  uint64_t tag = cqe->user_data;
  auto op = static_cast<Op>(tag >> 56);
  uint32_t slot = static_cast<uint32_t>(tag);
  uint32_t generation = static_cast<uint32_t>(tag >> 32) & 0xFFFFFF;
  switch (op) {
    case Op::kAccept:
      OnAccept(slot, cqe->res, cqe->flags);
      return;
    case Op::kDoorbell:  // DrainMail already ran this iteration.
      return;
    case Op::kInstallFd:
      OnInstalledFd(tag, cqe->res);
      return;
    case Op::kIoTarget: {
      auto target = io_targets_.find(slot);
      if (target != io_targets_.end()) target->second->OnIoComplete(generation, cqe->res);
      return;
    }
    case Op::kIgnore:
      if (cqe->res < 0 && cqe->res != -ENOENT && cqe->res != -EALREADY) {
        RC_LOG(kDebug, "shard %u: auxiliary operation failed: %s", id_, strerror(-cqe->res));
      }
      return;
    case Op::kRecv:
    case Op::kSend:
    case Op::kShutdownWrite:
      break;
  }
  Connection* conn = slot < slots_.size() ? slots_[slot] : nullptr;
  if (conn == nullptr || (conn->generation_ & 0xFFFFFF) != generation) {
    // Cannot happen while slots outlive their operations; recycle a buffer all the same.
    if (cqe->flags & IORING_CQE_F_BUFFER) buffers_.Recycle(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    RC_LOG(kWarn, "shard %u: completion for a released connection (op %d)", id_, int(op));
    return;
  }
  switch (op) {
    case Op::kRecv:
      OnRecv(*conn, cqe->res, cqe->flags);
      break;
    case Op::kSend:
      OnSend(*conn, cqe->res);
      break;
    case Op::kShutdownWrite:
      conn->shutdown_in_flight_ = false;
      if (conn->state_ == Connection::State::kClosed) {
        CloseDescriptor(*conn);  // Abort waited for the shutdown.
      } else if (cqe->res < 0) {
        Abort(*conn);
      }
      break;
    default:
      break;
  }
  MaybeRelease(*conn);
}

void Shard::AdvanceTimers() {
  uint64_t now = NowTick();
  if (now == timers_.now()) return;
  timers_.Advance(now, [this](TimerEntry* entry) { OnTimer(*static_cast<Connection*>(entry)); });
  recent_connections_.store(live_connections_, std::memory_order_relaxed);
  if (app_) app_->OnTick();
  // Retry after a failed accept.
  if (accepts_armed_ < AcceptsWanted() && !stopping_ && listen_fd_ >= 0) ArmAccept();
  if (stopping_ && now >= stop_deadline_) {
    for (Connection* conn : slots_) {
      if (conn != nullptr && conn->state_ != Connection::State::kClosed) Abort(*conn);
    }
    if (now >= stop_deadline_ + kShutdownGraceTicks) {
      if (live_connections_ > 0) {
        RC_LOG(kWarn, "shard %u: %zu connections still busy at shutdown", id_, live_connections_);
      } else {
        RC_LOG(kWarn, "shard %u: stopping with application work still in flight", id_);
      }
      done_ = true;
    }
  }
}

// Connections gone is not enough to leave. Work the application started must come back while
// every shard still runs (the chat in cluster mode: a commit whose reply publishes it to the
// other nodes). And what the other shards post while closing their own connections must still
// run here (the chat: a user's detach, mailed to the user's owner shard, which tells Redis):
// a connection's OnClose runs, and its mail is pushed to the target's queue, before the
// connection is released, so once every shard is quiet, one more iteration that drains the
// mail is all that is left. (What that last mail posts in turn runs on the main thread after
// the stopped hook: DeliverLeftoverMail.)
bool Shard::ReadyToLeave() {
  if (!quiet_) {
    if (live_connections_ > 0 || (app_ && !app_->Drained())) return false;
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

void Shard::BeginShutdown() {
  stopping_ = true;
  stop_deadline_ = NowTick() + SecondsToTicks(config_.shutdown_timeout_s);
  for (uint32_t index = 0; index < AcceptsWanted(); ++index) {
    // Matched by user_data: the listening fd is closed below, before this is submitted.
    io_uring_sqe* sqe = ring_.GetSqe();
    io_uring_prep_cancel64(sqe, Tag(Op::kAccept, index), 0);
    io_uring_sqe_set_data64(sqe, Tag(Op::kIgnore));
  }
  // The armed accept holds its own reference; the socket stops listening once that ends.
  close(listen_fd_);
  listen_fd_ = -1;
  RC_LOG(kInfo, "shard %u: shutting down, closing %zu connections", id_, live_connections_);
  // The application first (the chat's sessions may close otherwise); Close() is a no-op on a
  // connection already closing, so the loop below takes what it left open.
  if (app_) app_->OnShutdown();
  for (Connection* conn : slots_) {
    if (conn == nullptr) continue;
    if (conn->state_ == Connection::State::kWebSocket) {
      conn->Close(uint16_t(ws::CloseCode::kGoingAway), "server shutting down",
                  CloseReason::kShutdown);
    } else if (conn->state_ == Connection::State::kHttp) {
      Abort(*conn);
    }
  }
}

}  // namespace ringcast
