// Clocks: which one to read for what.
//
// Every duration (timeouts, heartbeats, rate windows, token-bucket refills, grace periods) is
// measured on the monotonic clock, which never steps. The wall clock moves by any amount, either
// way, when NTP steps it or an operator sets it, and a duration measured across such a step is
// off by that much (an unsigned subtraction even underflows into "forever"). The wall clock is
// read only for timestamps that mean a date to someone else: a message's `ts`, `last_online`, a
// token's `iat`/`exp`, stored times.
//
// Clock is the seam that lets a test step either clock: code that measures durations takes a
// `const Clock&` (or times read from one) instead of asking the system itself.
//
// Threads: SystemClock() is stateless; any thread may read it.
#pragma once

#include <cstdint>

namespace ringcast {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since an arbitrary origin; never goes backwards and never jumps.
  virtual int64_t MonotonicMs() const = 0;
  // The same clock in microseconds, for latencies in the metrics.
  virtual int64_t MonotonicUs() const { return MonotonicMs() * 1000; }
  // Milliseconds since the Unix epoch (UTC); may step either way at any time.
  virtual int64_t WallMs() const = 0;
};

// CLOCK_MONOTONIC and CLOCK_REALTIME.
const Clock& SystemClock();

}  // namespace ringcast
