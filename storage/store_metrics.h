// The store's figures as metrics, the same names for both backends (docs/metrics.md).
#pragma once

#include <cstdint>

#include "core/metrics/metric_set.h"

namespace ringcast::storage {

struct StoreFigures {
  const char* backend = "";        // "sqlite" or "postgresql".
  bool up = true;                  // False while the store is in an outage.
  uint64_t batches = 0;            // Write batches (group commits) run.
  uint64_t jobs = 0;               // Write jobs finished, ok or not.
  uint64_t failed_jobs = 0;        // Jobs (reads included) that ended with an error.
  uint64_t rejected = 0;           // Jobs refused (queue full, too long a wait, stopping).
  uint64_t refused_wait = 0;       // Of those, writes refused by --max-store-wait-ms.
  double write_wait_estimate = 0;  // Seconds a write submitted now would wait (estimate).
  double write_rate = 0;           // Writes/s the store drains while backlogged (0: unknown).
  uint64_t queued_writes = 0;
  uint64_t queued_reads = 0;
  uint64_t reconnects = 0;  // PostgreSQL connections re-established.
};

// SQLite's WAL (storage/README.md, "Keeping the WAL small").
struct WalFigures {
  uint64_t file_bytes = 0;     // Size of the -wal file.
  uint64_t frames = 0;         // Frames in the WAL.
  uint64_t pending = 0;        // Of those, not yet copied back into the database.
  uint64_t frame_bytes = 0;    // Page size + 24.
  uint64_t written_bytes = 0;  // Frames written by commits, total bytes.
  uint64_t restarts = 0;
  uint64_t over_bound = 0;
  uint64_t refused_writes = 0;
  uint64_t bound_bytes = 0;
  uint64_t hard_cap_bytes = 0;
  // [passive, restart, truncate] x [ok, busy, error].
  uint64_t checkpoints[3][3] = {};
};

void CollectWalMetrics(const WalFigures& wal, const Histogram& writer_held_seconds, MetricSet& out);

void CollectStoreMetrics(const StoreFigures& figures, const Histogram& batch_sizes,
                         const Histogram& commit_seconds, const Histogram& queue_wait_seconds,
                         MetricSet& out);

}  // namespace ringcast::storage
