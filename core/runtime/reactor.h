// Reactor: one shard's event loop — its io_uring, provided receive buffers, timer wheel, mail
// between shards, the table of completion handlers and the stop sequence. It knows nothing of
// connections or protocols: the ConnectionTable and the drivers register a handler per op tag
// (liburing's examples, helio's proactor), and the owner (Shard) answers the loop's questions
// through Reactor::Owner.
//
// Owner: the shard's thread, from Shard::Setup to the end of Run. Every method must be called
// there except RequestStop (any thread) and DeliverLeftoverMail (the main thread, after every
// shard has stopped).
//
// One iteration: commit recycled buffers → Owner::Flush (start sends, re-arm receives) → push
// overflowing mail and ring doorbells → Owner::Release (free connections whose last operation
// finished) → submit and wait (bounded by the next timer tick) → drain inbound mail → dispatch
// completions → timers (Owner::OnTimer per expired entry, Owner::OnTick once per tick) →
// Owner::EndIteration. Mail is drained before completions so a subscription announced by another
// shard before a client could have reacted to it is in place before that client's bytes are
// handled.
#pragma once

#include <liburing.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <vector>

#include "core/io/buffer_ring.h"
#include "core/io/ring.h"
#include "core/net/body_stream.h"
#include "core/runtime/mailbox.h"
#include "core/runtime/timer_wheel.h"

namespace ringcast {

class Shard;
class ShardSet;

// What a completion is for: the top byte of its user_data. The rest is the op's own: a slot and
// a 24-bit generation for connection operations, an index or a cookie for others.
enum class Op : uint8_t {
  kIgnore = 0,  // Auxiliary operations (cancels, closes, MSG_RING sends): only errors are logged.
  kDoorbell,    // Another shard's MSG_RING: mail is waiting (drained every iteration anyway).
  kIoTarget,    // A file operation: slot = IoTarget id, generation = its cookie.
  kAccept,      // slot = accept index.
  kRecv,
  kSend,
  kShutdownWrite,
  kCount,
};

struct OpTag {
  Op op;
  uint32_t slot;
  uint32_t generation;  // 24 bits.
};

inline uint64_t MakeTag(Op op, uint32_t slot = 0, uint32_t generation = 0) {
  return (uint64_t{static_cast<uint8_t>(op)} << 56) | (uint64_t{generation & 0xFFFFFF} << 32) |
         slot;
}
inline OpTag ParseTag(uint64_t tag) {
  return {static_cast<Op>(tag >> 56), static_cast<uint32_t>(tag),
          static_cast<uint32_t>(tag >> 32) & 0xFFFFFF};
}

class Reactor {
 public:
  static constexpr uint32_t kTickMs = 100;

  // The loop's questions to the shard that composes it. Called once per iteration (or per
  // expired timer), never per frame.
  class Owner {
   public:
    virtual void Flush() = 0;          // Before the wait: start sends, re-arm receives.
    virtual void Release() = 0;        // Free what the last completions finished with.
    virtual bool Busy() const = 0;     // While stopping: connections or app work still there.
    virtual void BeginShutdown() = 0;  // Once, as the stop begins (the deadline is set).
    virtual void OnTimer(TimerEntry* entry) = 0;
    virtual void OnTick(uint64_t now) = 0;  // After the tick's timers.
    virtual void EndIteration() = 0;        // Deferred work (handlers' OnClose).

   protected:
    ~Owner() = default;
  };

  // A completion handler: a plain function and its context, so dispatch is one indirect call,
  // as a switch's jump table would be.
  using CompletionFn = void (*)(void* context, const io_uring_cqe& cqe);

  Reactor(Shard& shard, ShardSet& set, uint32_t id, MailboxMatrix& mailboxes,
          uint32_t max_mail_backlog);
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // The ring and the receive buffers. Returns 0 or -errno with a message already logged.
  int Init(unsigned entries, uint32_t buffers, uint32_t buffer_size);
  // One handler per op; registering an op twice is a bug.
  void Register(Op op, CompletionFn fn, void* context);
  void Run(Owner& owner);

  Ring& ring() { return ring_; }
  const RingFeatures& features() const { return ring_.features(); }
  BufferRing& buffers() { return buffers_; }
  io_uring_sqe* GetSqe() { return ring_.GetSqe(); }
  int ring_fd() const { return ring_.fd(); }
  TimerWheel& timers() { return timers_; }
  uint64_t now() const { return timers_.now(); }
  uint32_t id() const { return id_; }
  uint32_t shard_count() const { return mailboxes_.shards(); }
  static uint64_t SecondsToTicks(uint32_t seconds) { return uint64_t{seconds} * 1000 / kTickMs; }
  // At most one rate-limited warning a second per shard: a flood of refused connections must
  // not become a flood of log lines.
  bool WarnAllowed();

  // --- Mail (mailbox.h) ----------------------------------------------------------------------
  // Shard::Post's contract: FIFO per pair, never blocks, refused past --max-mail-backlog.
  [[nodiscard]] bool Post(uint32_t target, const Mail& mail);
  void DeliverLeftoverMail();
  // Mail for `target` that found its queue full (DeliverLeftoverMail takes the others').
  std::deque<Mail>& overflow_for(uint32_t target) { return outboxes_[target].overflow; }
  uint64_t mailbox_depth() const;  // Mails queued for this shard by the others (a hint).

  // How the loop runs: completions per turn say whether a turn batches its I/O (a loop that
  // wakes for each completion pays a syscall and a corked send per message).
  struct LoopCounts {
    uint64_t turns = 0;
    uint64_t completions = 0;
  };
  const LoopCounts& loop_counts() const { return loop_counts_; }

  // --- Stop ----------------------------------------------------------------------------------
  void RequestStop(bool hurry);
  void set_shutdown_timeout(uint32_t seconds) { shutdown_timeout_s_ = seconds; }
  bool stopping() const { return stopping_; }
  uint64_t stop_deadline() const { return stop_deadline_; }
  // The stop deadline and its grace have passed: leave the loop after this iteration.
  void Finish() { done_ = true; }

  // --- File operations (IoTarget, body_stream.h) ---------------------------------------------
  uint32_t AddIoTarget(IoTarget* target);
  void RemoveIoTarget(uint32_t id) { io_targets_.erase(id); }

 private:
  // Outbound mail that found its queue full, per target, retried every iteration.
  struct Outbox {
    std::deque<Mail> overflow;
    bool ring = false;
  };
  struct Handler {
    CompletionFn fn = nullptr;
    void* context = nullptr;
  };

  static uint64_t NowTick();
  static void OnAuxiliary(void* self, const io_uring_cqe& cqe);
  static void OnIoTarget(void* self, const io_uring_cqe& cqe);
  void FlushMail();
  void DrainMail();
  void CloseInbox();  // As Run() ends: no more mail from other threads; run what was accepted.
  void RingDoorbell(uint32_t target);
  void AdvanceTimers(Owner& owner);
  bool ReadyToLeave(const Owner& owner);

  Shard& shard_;  // What mail runs on.
  ShardSet& set_;
  const uint32_t id_;
  MailboxMatrix& mailboxes_;
  const uint32_t max_mail_backlog_;
  Ring ring_;
  BufferRing buffers_;
  TimerWheel timers_;
  std::array<Handler, static_cast<size_t>(Op::kCount)> handlers_{};
  std::vector<Outbox> outboxes_;
  std::unordered_map<uint32_t, IoTarget*> io_targets_;  // By id; AddIoTarget.
  uint32_t next_io_target_ = 0;
  uint64_t next_warning_tick_ = 0;
  uint64_t refused_mail_ = 0;  // Post() calls refused for a full backlog.
  bool mail_left_ = false;     // The last DrainMail stopped at a bound: poll, do not sleep.

  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> hurry_requested_{false};
  uint32_t shutdown_timeout_s_ = 0;
  bool stopping_ = false;
  bool quiet_ = false;      // Stopping, nothing busy, no mail of ours waiting.
  bool last_pass_ = false;  // Every shard quiet: one more iteration to run their last mail.
  uint64_t stop_deadline_ = 0;
  bool done_ = false;
  LoopCounts loop_counts_;
};

}  // namespace ringcast
