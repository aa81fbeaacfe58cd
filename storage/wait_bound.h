// WaitBound: refuses a store job that would wait longer than a limit before it runs, instead of
// queueing it behind seconds of work (storage/README.md, "Overload: a bound on waiting").
//
// The count bound (--max-store-queue) alone let acks wait 3-14 s on SQLite at 2-4x its ceiling
// before anything was refused. The wait a new job faces is the work queued ahead of it divided
// by the rate its worker drains the queue at; both are known here:
//   - the rate is measured only while the worker is backlogged (a batch taken with more waiting
//     than it holds): the jobs and the seconds of those cycles, each sum decayed with a time
//     constant of the limit itself (at least kMinTau), and the rate their ratio. A job admitted
//     now waits up to the limit, so the rate that matters is the one of the next `limit`
//     seconds, which the last `limit` seconds predict better than the last few batches: with a
//     short memory the bound followed the writer's fast spells (between checkpoints, while the
//     shard sharing its CPU was idle) and admitted more than the slow ones then served in time. A
//     ratio of sums, not an average of each cycle's rate: cycles of one job vary a lot (a preempted
//     thread, an fsync), and averaging rates would let the fast ones dominate and overestimate the
//     rate. At low load a worker runs small batches far below its ceiling; measuring then would
//     make an idle store look slow and refuse the first burst that follows. Before any backlog has
//     been seen the rate is unknown and the estimate is not used.
//   - the oldest queued job's age, which the caller passes where it has it (SQLite's writer
//     queue): direct evidence when the worker has stalled (a disk that hangs, a checkpoint that
//     holds the writer) and the measured rate is stale.
// A queue shorter than `min_depth` (a batch) is never refused, so an idle or lightly loaded
// store never refuses anything; a burst is absorbed as long as what is queued can be served
// within the limit, and a sustained overload is refused as soon as it is not.
//
// Threads: Admit, EstimateSeconds and the getters from any thread (relaxed atomics); NoteBacklog
// from the one worker thread that drains the queue (a single writer of the rate).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace ringcast::storage {

class WaitBound {
 public:
  // limit 0: never refuse (the bound is off).
  WaitBound(std::chrono::milliseconds limit, uint64_t min_depth)
      : limit_s_(std::chrono::duration<double>(limit).count()),
        tau_s_(limit_s_ > kMinTau ? limit_s_ : kMinTau),
        min_depth_(min_depth) {}

  // Whether a job with `ahead` jobs queued before it may join; a refusal is counted. `oldest`:
  // how long the oldest of those has waited (zero where the caller does not know).
  bool Admit(uint64_t ahead, std::chrono::steady_clock::duration oldest);

  // The worker: `jobs` finished in `seconds` of a cycle it began with more queued than it took.
  void NoteBacklog(uint64_t jobs, double seconds);

  // Seconds a job would wait behind `ahead` queued ones at the measured rate (0 while it is
  // unknown).
  double EstimateSeconds(uint64_t ahead) const;
  double rate() const { return rate_.load(std::memory_order_relaxed); }  // Jobs/s; 0: unknown.
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
  double limit_seconds() const { return limit_s_; }

  // The estimate must stay within this share of the limit. Over the second that an admitted
  // write waits, the writer's speed scatters around the rate just measured (on SQLite at 2-4x
  // its ceiling, ±20-30 % over a third of a second: checkpoints, and the shard that shares its
  // core spending more on refusals), so admitting up to the full limit let a quarter of the
  // admitted writes wait past it (chat-overload, bench/README.md).
  static constexpr double kHeadroom = 0.75;
  // How far back the rate looks at least, in seconds of backlogged work (one slow batch weighs
  // by its duration).
  static constexpr double kMinTau = 0.1;

 private:
  const double limit_s_;
  const double tau_s_;  // How far back the rate looks: the limit, at least kMinTau.
  const uint64_t min_depth_;
  double jobs_ = 0, seconds_ = 0;  // The decayed sums: NoteBacklog's thread only.
  std::atomic<double> rate_{0};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace ringcast::storage
