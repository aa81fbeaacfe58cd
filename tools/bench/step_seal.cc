#include "tools/bench/step_seal.h"

#include <ctime>

#include "tools/bench/worker.h"

namespace ringcast::bench {

void SetDeliveryLatency(Json* step, std::string_view name, const Histogram& all,
                        const Histogram& same, const Histogram& cross, uint32_t servers) {
  const std::string prefix(name);
  step->Set(prefix + "_ns", HistogramToJson(all));
  if (servers > 1) {
    step->Set(prefix + "_same_server_ns", HistogramToJson(same));
    step->Set(prefix + "_cross_server_ns", HistogramToJson(cross));
  }
}

bool StepSeal::Tick(StepCursor* cursor, const RunShared& run, int64_t now) const {
  StepCursor& c = *cursor;
  c.window = run.Window();
  const int sealed = sealed_.load(std::memory_order_acquire);
  if (sealed > c.acked) {
    c.acked = sealed;
    c.acked_step.store(sealed, std::memory_order_release);
  }
  if (c.window.index == c.step || c.window.index <= c.acked || now < c.window.start_ns) {
    return false;
  }
  c.step = c.window.index;
  return true;
}

void StepSeal::SealAndWake(RunShared* run, int step) {
  sealed_.store(step, std::memory_order_release);
  for (Worker* w : run->workers) w->Wake();
}

bool StepSeal::WaitAcked(const StepCursor& cursor, int step, int64_t deadline_ns) {
  while (cursor.acked_step.load(std::memory_order_acquire) < step) {
    if (NowNs() >= deadline_ns) return false;
    struct timespec ts {
      0, 1'000'000
    };
    nanosleep(&ts, nullptr);
  }
  return true;
}

}  // namespace ringcast::bench
