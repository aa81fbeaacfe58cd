// DeferredWakes: the wake-ups an event-loop thread owes other threads, given once per loop turn.
//
// A shard hands the store its work message by message. Waking the store's thread for each one
// costs a syscall, and where both share a CPU a context switch too: the woken thread preempts
// the shard, runs for one job and sleeps again (perf, chat-1k on PostgreSQL at 25,000 msgs/s
// with both on CPU 0: 8% of all samples under the shard's eventfd writes). A thread that holds
// a DeferredWakes collects the wake-ups asked for meanwhile, each target once, and gives them
// when it calls Flush(): a shard does just before it waits for I/O, so a job waits at most for
// the rest of the turn that submitted it. On any other thread a wake-up is given at once. Users:
// the PostgreSQL pipeline, the SQLite executor's writer, the Redis bus (whose publisher then
// writes a turn's PUBLISHes at once).
//
// Header-only and free of the engine's types, so that storage/ (which knows nothing of shards)
// can use it.
#pragma once

#include <vector>

namespace ringcast {

class DeferredWakes {
 public:
  using WakeFn = void (*)(void* target);

  // On a thread that holds a DeferredWakes: wake(target) runs at its next Flush(), once however
  // often it was asked for. On any other thread: now.
  static void WakeSoon(WakeFn wake, void* target) {
    DeferredWakes* wakes = current_;
    if (wakes == nullptr) {
      wake(target);
      return;
    }
    for (const Pending& pending : wakes->pending_) {
      if (pending.wake == wake && pending.target == target) return;
    }
    wakes->pending_.push_back(Pending{wake, target});  // As many as there are distinct targets.
  }

  // This thread's wake-ups wait for Flush() from now on (for the innermost one, if nested).
  DeferredWakes() : outer_(current_) { current_ = this; }
  ~DeferredWakes() {
    Flush();
    current_ = outer_;
  }
  DeferredWakes(const DeferredWakes&) = delete;
  DeferredWakes& operator=(const DeferredWakes&) = delete;

  // A wake-up asked for while this runs (a wake function that submits) waits for the next one.
  void Flush() {
    giving_.swap(pending_);
    for (const Pending& pending : giving_) pending.wake(pending.target);
    giving_.clear();
  }

 private:
  struct Pending {
    WakeFn wake;
    void* target;
  };

  std::vector<Pending> pending_;
  std::vector<Pending> giving_;  // Kept to reuse its memory.
  DeferredWakes* outer_;
  static inline thread_local DeferredWakes* current_ = nullptr;
};

}  // namespace ringcast
