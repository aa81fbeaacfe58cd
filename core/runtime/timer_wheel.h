// Hashed timer wheel: O(1) schedule, cancel and per-tick expiry, intrusive (no allocation).
//
// Owner: one shard. Entries are embedded in the objects they time (connections), linked into
// the slot of their deadline tick. A deadline further away than the wheel's span lands in the
// slot it hashes to and is simply carried over when that slot comes round before it is due,
// so any deadline works with a fixed number of slots.
//
// Connections keep one entry for all their timeouts (handshake, idle, ping, close) and push a
// single deadline forward lazily: activity only records a timestamp, and the expiry callback
// re-schedules when the real deadline is still ahead. That keeps the receive path free of
// list manipulation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/log.h"

namespace ringcast {

struct TimerEntry {
  TimerEntry* prev = nullptr;
  TimerEntry* next = nullptr;
  uint64_t deadline = 0;  // In ticks.

  bool armed() const { return prev != nullptr; }
};

class TimerWheel {
 public:
  // `slots` is rounded up to a power of two. Ticks are the caller's unit (the shard uses ms /
  // its tick length); `now` is the current tick.
  TimerWheel(size_t slots, uint64_t now);

  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  uint64_t now() const { return now_; }
  size_t size() const { return size_; }

  // Arms `entry` for `deadline` (clamped to now + 1), moving it if already armed.
  void Schedule(TimerEntry* entry, uint64_t deadline);
  void Cancel(TimerEntry* entry);

  // Advances to tick `now`, calling on_expire(entry) for each entry whose deadline has passed;
  // the entry is disarmed before the call, so the callback may re-schedule or destroy it.
  template <typename OnExpire>
  void Advance(uint64_t now, OnExpire&& on_expire);

 private:
  TimerEntry& SlotFor(uint64_t tick) { return slots_[tick & mask_]; }
  static void Unlink(TimerEntry* entry);

  size_t mask_;
  // Each slot is the sentinel of a circular doubly linked list.
  std::vector<TimerEntry> slots_;
  uint64_t now_;
  size_t size_ = 0;
};

template <typename OnExpire>
void TimerWheel::Advance(uint64_t now, OnExpire&& on_expire) {
  if (now <= now_) return;
  // Visiting more than one full turn is pointless: every slot is seen once per turn.
  uint64_t first = now - now_ > mask_ + 1 ? now - mask_ : now_ + 1;
  now_ = now;
  for (uint64_t tick = first; tick <= now; ++tick) {
    TimerEntry& sentinel = SlotFor(tick);
    // Detach the slot so entries re-scheduled into it during callbacks wait for the next turn.
    if (sentinel.next == &sentinel) continue;
    TimerEntry pending;
    pending.next = sentinel.next;
    pending.prev = sentinel.prev;
    pending.next->prev = &pending;
    pending.prev->next = &pending;
    sentinel.next = sentinel.prev = &sentinel;
    while (pending.next != &pending) {
      TimerEntry* entry = pending.next;
      Unlink(entry);
      if (entry->deadline > now) {  // Due in a later turn of the wheel.
        TimerEntry& slot = SlotFor(entry->deadline);
        entry->next = &slot;
        entry->prev = slot.prev;
        slot.prev->next = entry;
        slot.prev = entry;
        continue;
      }
      --size_;
      on_expire(entry);
    }
  }
}

}  // namespace ringcast
