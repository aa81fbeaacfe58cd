#include "core/runtime/timer_wheel.h"

#include <bit>

namespace ringcast {

TimerWheel::TimerWheel(size_t slots, uint64_t now)
    : mask_(std::bit_ceil(slots < 2 ? 2 : slots) - 1), slots_(mask_ + 1), now_(now) {
  for (TimerEntry& sentinel : slots_) sentinel.next = sentinel.prev = &sentinel;
}

void TimerWheel::Unlink(TimerEntry* entry) {
  entry->prev->next = entry->next;
  entry->next->prev = entry->prev;
  entry->prev = entry->next = nullptr;
}

void TimerWheel::Schedule(TimerEntry* entry, uint64_t deadline) {
  if (entry->armed()) {
    Unlink(entry);
  } else {
    ++size_;
  }
  entry->deadline = deadline > now_ ? deadline : now_ + 1;
  TimerEntry& slot = SlotFor(entry->deadline);
  entry->next = &slot;
  entry->prev = slot.prev;
  slot.prev->next = entry;
  slot.prev = entry;
}

void TimerWheel::Cancel(TimerEntry* entry) {
  if (!entry->armed()) return;
  Unlink(entry);
  --size_;
}

}  // namespace ringcast
