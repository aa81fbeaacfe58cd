// StepCursor and StepSeal: how the open-loop scenarios (fanout, chat) hand a finished step's
// per-worker figures to the main thread without locks. The main thread seals the step; each
// worker acknowledges on its next tick and from then on writes nothing of that step, so the
// main thread can merge its figures.
//
// Threads: as each member says. Part of the executable, not ringcast_bench_lib: sealing wakes
// the workers.
#pragma once

#include <atomic>
#include <climits>
#include <string>
#include <string_view>
#include <vector>

#include "tools/bench/bookkeeping.h"
#include "tools/bench/histogram.h"
#include "tools/bench/json.h"
#include "tools/bench/scenario.h"
#include "tools/bench/system_info.h"

namespace ringcast::bench {

// One worker's place in the steps; the scenario's per-worker state derives from it. The worker
// writes every field; the main thread reads the atomics at any time and the rest of a step's
// figures only once StepSeal::Seal has returned true for it.
struct StepCursor {
  StepWindow window;  // The run's window as of the worker's last tick.
  int step = -1;      // Step this worker is publishing for.
  int acked = -1;     // Highest sealed step: its figures are no longer written.
  std::atomic<int> acked_step{-1};
  std::atomic<int> published_step{-1};  // Highest step whose messages are all sent.
  OpenLoopSchedule schedule;            // Of `step`.
  int64_t next_wake_ns = INT64_MAX;
  std::atomic<uint64_t> receipts{0};        // Deliveries, all steps, for Drained().
  std::atomic<uint64_t> cross_receipts{0};  // Of those, on another server than the sender.
  std::vector<Histogram> delivery_latency;  // Per step, measured deliveries; split by whether
  std::vector<Histogram> same_server;       // the receiver is on the sender's server, and on
  std::vector<Histogram> cross_server;      // another server.

  void ResizeLatency(size_t steps) {
    delivery_latency.resize(steps);
    same_server.resize(steps);
    cross_server.resize(steps);
  }

  // A measured delivery of `step`, `latency_ns` after its intended send time.
  void RecordLatency(size_t step, bool cross, uint64_t latency_ns) {
    delivery_latency[step].Record(latency_ns);
    (cross ? cross_server : same_server)[step].Record(latency_ns);
  }

  // Main thread, once `step` is sealed: adds its latency histograms to the step's totals.
  void MergeLatency(size_t step, Histogram* all, Histogram* same, Histogram* cross) const {
    all->Merge(delivery_latency[step]);
    same->Merge(same_server[step]);
    cross->Merge(cross_server[step]);
  }

  // A delivery; `cross`: to another server than the sender's. Only this worker writes the
  // counters, so a relaxed load and store is enough (no read-modify-write).
  void CountReceipt(bool cross) {
    receipts.store(receipts.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (cross) {
      cross_receipts.store(cross_receipts.load(std::memory_order_relaxed) + 1,
                           std::memory_order_relaxed);
    }
  }
};

// A step's delivery latency in its report: NAME_ns, and with more than one server its split by
// where the receiver was (MergeLatency's `same` and `cross`), NAME_same_server_ns and
// NAME_cross_server_ns.
void SetDeliveryLatency(Json* step, std::string_view name, const Histogram& all,
                        const Histogram& same, const Histogram& cross, uint32_t servers);

class StepSeal {
 public:
  // Worker, first thing each tick: takes the run's window and acknowledges a sealed step. True
  // when the worker starts publishing for a new step now (the caller then sets
  // cursor->schedule for cursor->step).
  bool Tick(StepCursor* cursor, const RunShared& run, int64_t now) const;

  // Main thread, at a step's end: seals it, wakes the workers and waits up to 2 s for every
  // cursor to acknowledge. False, after failing the run, when one has not.
  template <class Cursors>
  bool Seal(RunShared* run, int step, const Cursors& cursors, std::string_view scenario) {
    SealAndWake(run, step);
    const int64_t deadline_ns = NowNs() + 2'000'000'000;
    bool all = true;
    for (const StepCursor& c : cursors) all = WaitAcked(c, step, deadline_ns) && all;
    if (!all) {
      run->Fail(std::string(scenario) + ": a worker did not finish step " + std::to_string(step));
    }
    return all;
  }

  // For Drained(): a worker running late may still owe messages intended before the window's
  // end, so the step cannot be drained before every worker has sent its last one.
  template <class Cursors>
  static bool AllPublished(const Cursors& cursors, int step) {
    for (const StepCursor& c : cursors) {
      if (c.published_step.load(std::memory_order_acquire) < step) return false;
    }
    return true;
  }

 private:
  void SealAndWake(RunShared* run, int step);
  static bool WaitAcked(const StepCursor& cursor, int step, int64_t deadline_ns);

  std::atomic<int> sealed_{-1};
};

}  // namespace ringcast::bench
