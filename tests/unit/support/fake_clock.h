// A Clock that tests set and step by hand: the monotonic clock only moves forward (Advance), the
// wall clock can also jump either way (StepWall), as NTP or an operator makes it do.
#pragma once

#include <cstdint>

#include "core/runtime/clock.h"

namespace ringcast::testing {

class FakeClock final : public Clock {
 public:
  int64_t MonotonicMs() const override { return monotonic_ms_; }
  int64_t WallMs() const override { return wall_ms_; }

  // Time passes: both clocks move by `ms`.
  void Advance(int64_t ms) {
    monotonic_ms_ += ms;
    wall_ms_ += ms;
  }
  // The wall clock is set: only it moves, by `ms` (negative: backwards).
  void StepWall(int64_t ms) { wall_ms_ += ms; }

 private:
  int64_t monotonic_ms_ = 1'000'000;
  int64_t wall_ms_ = 1'800'000'000'000;  // 2027-01-15.
};

}  // namespace ringcast::testing
