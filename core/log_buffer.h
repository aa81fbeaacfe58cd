// LogBuffer: the bounded queue between the threads that log (shards above all) and the logger
// thread that writes; LogRateState: the per-call-site limit on repeated warnings.
//
// Any thread pushes, the logger thread pops (and, on a failed CHECK, the failing thread too: the
// queue is multi-consumer for that). Neither side ever blocks or allocates: a line that finds
// the buffer full is dropped and counted, and the logger reports the count in a later line, so
// a shard never waits for a slow terminal, pipe or disk. Fixed-size cells (a line past kMaxLine
// is cut), a power-of-two count of them (--log-buffer-lines), allocated once.
//
// The queue is Dmitry Vyukov's bounded MPMC array queue: each cell carries a sequence number
// that says whether it is free for the producer at position p (== p) or holds the line of
// position p for the consumer (== p + 1); positions are claimed with one CAS.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ringcast {

// Where a line goes: the server log (stderr) or the access log (--access-log).
enum class LogStream : uint8_t { kLog = 0, kAccess = 1 };
inline constexpr int kLogStreams = 2;

class LogBuffer {
 public:
  static constexpr size_t kCellSize = 1024;
  static constexpr size_t kMaxLine = kCellSize - 16;  // Longer lines are cut to this.

  // `lines` is rounded up to a power of two (at least 2).
  explicit LogBuffer(uint32_t lines);
  LogBuffer(const LogBuffer&) = delete;
  LogBuffer& operator=(const LogBuffer&) = delete;

  // Any thread, never blocks: false when the buffer is full (the line is dropped and counted).
  bool TryPush(LogStream stream, std::string_view line);
  // The next line in push order, copied into *line; false when there is none (or the next one
  // is still being written by its producer: it will be there at the next try).
  bool TryPop(LogStream* stream, std::string* line);
  // Lines of `stream` dropped since the last call.
  uint64_t TakeDropped(LogStream stream) {
    return dropped_[static_cast<int>(stream)].exchange(0, std::memory_order_relaxed);
  }
  uint32_t capacity() const { return mask_ + 1; }

 private:
  struct Cell {
    std::atomic<uint64_t> sequence;
    uint32_t size;
    LogStream stream;
    char text[kMaxLine];
  };
  static_assert(sizeof(Cell) <= kCellSize);

  uint32_t mask_;
  std::unique_ptr<Cell[]> cells_;
  alignas(64) std::atomic<uint64_t> push_position_{0};
  alignas(64) std::atomic<uint64_t> pop_position_{0};
  alignas(64) std::atomic<uint64_t> dropped_[kLogStreams] = {};
};

// One second of silence per call site (and per shard) after a warning: the first line of a
// burst goes out at once, the rest are counted, and the count rides on the next line let through
// (or on a summary line the logger writes once the second is over, so a burst that stops is
// still accounted for). Times are CLOCK_MONOTONIC nanoseconds, passed in so that tests use a
// fake clock.
struct LogRateState {
  static constexpr int64_t kIntervalNs = 1'000'000'000;
  std::atomic<int64_t> next_allowed_ns{0};
  std::atomic<uint64_t> suppressed{0};

  // Whether a line may go out at `now_ns`; if so, *suppressed_before is how many were held
  // back since the previous one.
  bool Admit(int64_t now_ns, uint64_t* suppressed_before);
  // For the logger's summary: the count held back, once the interval that held them back has
  // passed (0 otherwise, or when nothing was held back).
  uint64_t TakeExpired(int64_t now_ns);
};

}  // namespace ringcast
