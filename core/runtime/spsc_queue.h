// Bounded lock-free single-producer single-consumer queue.
//
// Owner: the producer shard pushes, the consumer shard pops; no other thread touches it.
// Head and tail live on separate cache lines, and each side keeps a cached copy of the other's
// index so the common push/pop touches only its own line (the Lamport queue with the usual
// cache-friendly refinement).
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace ringcast {

template <typename T>
class SpscQueue {
 public:
  // `capacity` is rounded up to a power of two.
  explicit SpscQueue(size_t capacity)
      : mask_(std::bit_ceil(capacity < 2 ? 2 : capacity) - 1),
        slots_(std::make_unique<T[]>(mask_ + 1)) {}

  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;

  size_t capacity() const { return mask_ + 1; }

  // Producer only. False when full (the item is left untouched).
  bool TryPush(T&& item) {
    size_t tail = producer_.tail.load(std::memory_order_relaxed);
    if (tail - producer_.cached_head > mask_) {
      producer_.cached_head = consumer_.head.load(std::memory_order_acquire);
      if (tail - producer_.cached_head > mask_) return false;
    }
    slots_[tail & mask_] = std::move(item);
    producer_.tail.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Consumer only. False when empty.
  bool TryPop(T* out) {
    size_t head = consumer_.head.load(std::memory_order_relaxed);
    if (head == consumer_.cached_tail) {
      consumer_.cached_tail = producer_.tail.load(std::memory_order_acquire);
      if (head == consumer_.cached_tail) return false;
    }
    *out = std::move(slots_[head & mask_]);
    consumer_.head.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer only; a hint (the producer may push concurrently).
  bool Empty() const {
    return consumer_.head.load(std::memory_order_relaxed) ==
           producer_.tail.load(std::memory_order_acquire);
  }
  // Consumer only; a hint, as Empty().
  size_t SizeHint() const {
    return producer_.tail.load(std::memory_order_acquire) -
           consumer_.head.load(std::memory_order_relaxed);
  }

 private:
  static constexpr size_t kLine = 64;
  struct alignas(kLine) Producer {
    std::atomic<size_t> tail{0};
    size_t cached_head = 0;
  };
  struct alignas(kLine) Consumer {
    std::atomic<size_t> head{0};
    size_t cached_tail = 0;
  };

  const size_t mask_;
  std::unique_ptr<T[]> slots_;
  Producer producer_;
  Consumer consumer_;
};

}  // namespace ringcast
