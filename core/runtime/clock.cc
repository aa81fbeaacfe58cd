#include "core/runtime/clock.h"

#include <time.h>

namespace ringcast {
namespace {

int64_t ReadMs(clockid_t id) {
  timespec now;
  clock_gettime(id, &now);
  return int64_t{now.tv_sec} * 1000 + now.tv_nsec / 1000000;
}

class SystemClockImpl final : public Clock {
 public:
  int64_t MonotonicMs() const override { return ReadMs(CLOCK_MONOTONIC); }
  int64_t MonotonicUs() const override {
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return int64_t{now.tv_sec} * 1000000 + now.tv_nsec / 1000;
  }
  int64_t WallMs() const override { return ReadMs(CLOCK_REALTIME); }
};

}  // namespace

const Clock& SystemClock() {
  static const SystemClockImpl clock;
  return clock;
}

}  // namespace ringcast
