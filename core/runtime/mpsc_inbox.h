// MpscInbox<T>: a bounded multi-producer single-consumer queue whose producers never wait (past
// the ring, a bounded overflow), and which can be closed: the inbox of one shard for mail from
// threads that are not shards (workers, storage threads, anything a library calls back on).
//
// Owner: the consumer (the shard) pops and closes; any number of threads push, none of them
// registered beforehand. Cells hold a sequence number each (D. Vyukov's bounded MPMC array
// queue, used with one consumer): a producer claims a position with one CAS and publishes it
// with a release store, so pushing is lock-free and allocates nothing.
//
// Ordering: one producer's items are popped in the order it pushed them (per-producer FIFO):
// its later push claims a later position, and the consumer pops positions in order. Nothing is
// promised between two producers. The chat relies on this: a store's replies for one
// conversation are posted by one thread (the store's writer or syncer) in commit order and
// reach the owner shard in that order.
//
// Back-pressure: TryPush() never waits, so a stalled consumer cannot hold up a producer (and
// through it every other consumer that producer serves). On a full ring the item goes to the
// overflow while that holds fewer than the caller's limit; past it the answer is kFull and the
// item stays with the caller, who decides (ExternalMail's must-arrive mail passes no limit, its
// may-fail mail falls back on a refill; an IoLoop's poster refuses the work). Shards do not use
// this type at all: they post through their own bounded SPSC queues (mailbox.h).
//
// Closing: Close() (the consumer, once, when it stops for good) refuses every later push
// (PushResult::kClosed: the item is left with the caller, who frees it) and returns only once
// no producer is between admission and publication. So after Close() the consumer's Drain() sees
// every item that was ever accepted, and nothing is accepted afterwards: nothing is stranded,
// nothing is lost without its producer knowing.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace ringcast {

enum class PushResult : uint8_t {
  kQueued,  // The consumer will pop it.
  kClosed,  // Refused: the consumer has stopped. The item was not moved from.
  kFull,    // Refused: the ring and the overflow are full. The item was not moved from.
};

template <typename T>
class MpscInbox {
 public:
  // `capacity` is rounded up to a power of two (at least 2).
  explicit MpscInbox(size_t capacity)
      : mask_(std::bit_ceil(capacity < 2 ? 2 : capacity) - 1),
        cells_(std::make_unique<Cell[]>(mask_ + 1)) {
    for (size_t i = 0; i <= mask_; ++i) cells_[i].sequence.store(i, std::memory_order_relaxed);
  }
  MpscInbox(const MpscInbox&) = delete;
  MpscInbox& operator=(const MpscInbox&) = delete;

  size_t capacity() const { return mask_ + 1; }

  // Any thread, never waits. On a full ring the item goes to the overflow, a mutex-guarded list
  // the consumer drains once the ring is empty, while it holds fewer than `overflow_limit` items
  // (SIZE_MAX: always); past it, kFull and the item stays the caller's. Once anything has
  // overflowed, every later push joins the overflow until the consumer has taken it, so one
  // producer's items still arrive in the order pushed. On kQueued, `on_queued()` runs after the
  // item is visible to the consumer and before Close() can return (the place to ring the
  // consumer's doorbell: nothing touches a closed consumer's wakeup mechanism).
  template <typename OnQueued>
  PushResult TryPush(T& item, size_t overflow_limit, OnQueued&& on_queued) {
    if (state_.fetch_add(kProducer, std::memory_order_seq_cst) & kClosedBit) {
      Leave();
      return PushResult::kClosed;
    }
    bool queued = !overflowing_.load(std::memory_order_seq_cst) && TryEnqueue(item);
    if (!queued) {
      std::lock_guard lock(overflow_mutex_);
      if (overflow_.size() < overflow_limit) {
        overflow_.push_back(std::move(item));
        overflowing_.store(true, std::memory_order_seq_cst);
        queued = true;
      }
    }
    if (queued) on_queued();
    Leave();
    return queued ? PushResult::kQueued : PushResult::kFull;
  }
  PushResult TryPush(T& item, size_t overflow_limit = 0) {
    return TryPush(item, overflow_limit, [] {});
  }

  // Consumer only: no item is claimed or published that Drain() has not taken. A producer's
  // claim counts before it publishes, so an item still being written keeps this false.
  bool Empty() const {
    return enqueue_position_.load(std::memory_order_seq_cst) == dequeue_position_;
  }

  // Consumer only. Pops and runs `run(item)` for what is published, up to `limit` items (a
  // producer that claimed a cell but has not yet published stops the drain there; it publishes
  // and wakes the consumer afterwards), then the overflow once the ring is empty. Returns the
  // count; `limit` items means there may be more.
  template <typename Run>
  size_t Drain(Run&& run, size_t limit = SIZE_MAX) {
    size_t count = 0;
    T item;
    while (count < limit && TryDequeue(&item)) {
      ++count;
      run(item);
    }
    // The overflow only once the ring holds nothing claimed: whatever a producer put in the ring
    // before it overflowed has run by then.
    if (count < limit && overflowing_.load(std::memory_order_seq_cst)) {
      std::lock_guard lock(overflow_mutex_);
      if (Empty()) {
        overflow_taken_.swap(overflow_);
        overflowing_.store(false, std::memory_order_seq_cst);
      }
    }
    // Run outside the lock (a run may post here again); a producer that finds the flag clear
    // now goes to the ring, behind everything taken here.
    for (T& taken : overflow_taken_) {
      ++count;
      run(taken);
    }
    overflow_taken_.clear();
    return count;
  }

  // Consumer only, once. See the header comment. Drain() afterwards to take what was accepted.
  void Close() {
    state_.fetch_or(kClosedBit, std::memory_order_seq_cst);
    for (uint32_t state = state_.load(std::memory_order_acquire); state != kClosedBit;
         state = state_.load(std::memory_order_acquire)) {
      state_.wait(state, std::memory_order_acquire);
    }
  }

  bool closed() const { return state_.load(std::memory_order_acquire) & kClosedBit; }
  // Items waiting in the overflow (a hint, for tests and metrics).
  size_t overflowed() {
    std::lock_guard lock(overflow_mutex_);
    return overflow_.size();
  }

 private:
  static constexpr uint32_t kClosedBit = 1;
  static constexpr uint32_t kProducer =
      2;  // state_ counts producers inside TryPush() in steps of 2.
  static constexpr size_t kLine = 64;

  struct Cell {
    std::atomic<size_t> sequence;
    T item;
  };

  bool TryEnqueue(T& item) {
    size_t position = enqueue_position_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& cell = cells_[position & mask_];
      size_t sequence = cell.sequence.load(std::memory_order_acquire);
      auto lag = static_cast<intptr_t>(sequence) - static_cast<intptr_t>(position);
      if (lag == 0) {
        if (enqueue_position_.compare_exchange_weak(position, position + 1,
                                                    std::memory_order_relaxed)) {
          cell.item = std::move(item);
          cell.sequence.store(position + 1, std::memory_order_release);
          return true;
        }
      } else if (lag < 0) {
        return false;  // The cell still holds the item from one lap ago: full.
      } else {
        position = enqueue_position_.load(std::memory_order_relaxed);
      }
    }
  }

  bool TryDequeue(T* out) {
    Cell& cell = cells_[dequeue_position_ & mask_];
    if (cell.sequence.load(std::memory_order_acquire) != dequeue_position_ + 1) return false;
    *out = std::move(cell.item);
    cell.sequence.store(dequeue_position_ + mask_ + 1, std::memory_order_release);
    ++dequeue_position_;
    return true;
  }

  void Leave() {
    // The last producer out of a closed inbox lets Close() return.
    if (state_.fetch_sub(kProducer, std::memory_order_acq_rel) == (kClosedBit | kProducer)) {
      state_.notify_all();
    }
  }

  const size_t mask_;
  std::unique_ptr<Cell[]> cells_;
  alignas(kLine) std::atomic<size_t> enqueue_position_{0};
  alignas(kLine) std::atomic<uint32_t> state_{0};  // kClosedBit | producers inside × kProducer.
  alignas(kLine) size_t dequeue_position_ = 0;     // Consumer only.
  std::vector<T> overflow_taken_;                  // Consumer only: kept to reuse its memory.
  alignas(kLine) std::atomic<bool> overflowing_{false};  // overflow_ is not empty.
  std::mutex overflow_mutex_;
  std::vector<T> overflow_;  // Under overflow_mutex_.
};

}  // namespace ringcast
