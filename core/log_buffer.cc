#include "core/log_buffer.h"

#include <algorithm>
#include <cstring>

namespace ringcast {

LogBuffer::LogBuffer(uint32_t lines) {
  uint32_t capacity = 2;
  while (capacity < lines && capacity < (1u << 30)) capacity <<= 1;
  mask_ = capacity - 1;
  cells_ = std::make_unique<Cell[]>(capacity);
  for (uint32_t i = 0; i < capacity; ++i) cells_[i].sequence.store(i, std::memory_order_relaxed);
}

bool LogBuffer::TryPush(LogStream stream, std::string_view line) {
  uint64_t position = push_position_.load(std::memory_order_relaxed);
  Cell* cell;
  for (;;) {
    cell = &cells_[position & mask_];
    const uint64_t sequence = cell->sequence.load(std::memory_order_acquire);
    const int64_t lag = static_cast<int64_t>(sequence - position);
    if (lag == 0) {
      if (push_position_.compare_exchange_weak(position, position + 1, std::memory_order_relaxed)) {
        break;
      }
    } else if (lag < 0) {  // The cell still holds the line of the previous lap: full.
      dropped_[static_cast<int>(stream)].fetch_add(1, std::memory_order_relaxed);
      return false;
    } else {
      position = push_position_.load(std::memory_order_relaxed);
    }
  }
  const size_t size = std::min(line.size(), kMaxLine);
  std::memcpy(cell->text, line.data(), size);
  cell->size = static_cast<uint32_t>(size);
  cell->stream = stream;
  cell->sequence.store(position + 1, std::memory_order_release);
  return true;
}

bool LogBuffer::TryPop(LogStream* stream, std::string* line) {
  uint64_t position = pop_position_.load(std::memory_order_relaxed);
  Cell* cell;
  for (;;) {
    cell = &cells_[position & mask_];
    const uint64_t sequence = cell->sequence.load(std::memory_order_acquire);
    const int64_t lag = static_cast<int64_t>(sequence - (position + 1));
    if (lag == 0) {
      if (pop_position_.compare_exchange_weak(position, position + 1, std::memory_order_relaxed)) {
        break;
      }
    } else if (lag < 0) {  // Empty, or its producer is still copying.
      return false;
    } else {
      position = pop_position_.load(std::memory_order_relaxed);
    }
  }
  line->assign(cell->text, cell->size);
  *stream = cell->stream;
  cell->sequence.store(position + mask_ + 1, std::memory_order_release);
  return true;
}

bool LogRateState::Admit(int64_t now_ns, uint64_t* suppressed_before) {
  int64_t next = next_allowed_ns.load(std::memory_order_relaxed);
  if (now_ns >= next && next_allowed_ns.compare_exchange_strong(next, now_ns + kIntervalNs,
                                                                std::memory_order_relaxed)) {
    *suppressed_before = suppressed.exchange(0, std::memory_order_relaxed);
    return true;
  }
  suppressed.fetch_add(1, std::memory_order_relaxed);
  return false;
}

uint64_t LogRateState::TakeExpired(int64_t now_ns) {
  if (suppressed.load(std::memory_order_relaxed) == 0) return 0;
  if (now_ns < next_allowed_ns.load(std::memory_order_relaxed)) return 0;
  return suppressed.exchange(0, std::memory_order_relaxed);
}

}  // namespace ringcast
