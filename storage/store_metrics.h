// The store's figures as metrics, the same names for both backends (docs/metrics.md).
#pragma once

#include <cstdint>

#include "core/metrics/metric_set.h"

namespace ringcast::storage {

struct StoreFigures {
  const char* backend = "";  // "sqlite" or "postgresql".
  bool up = true;            // False while the store is in an outage.
  uint64_t batches = 0;      // Write batches (group commits) run.
  uint64_t jobs = 0;         // Write jobs finished, ok or not.
  uint64_t failed_jobs = 0;  // Jobs (reads included) that ended with an error.
  uint64_t rejected = 0;     // Jobs refused (queue full, stopping).
  uint64_t queued_writes = 0;
  uint64_t queued_reads = 0;
  uint64_t reconnects = 0;  // PostgreSQL connections re-established.
};

void CollectStoreMetrics(const StoreFigures& figures, const Histogram& batch_sizes,
                         const Histogram& commit_seconds, MetricSet& out);

}  // namespace ringcast::storage
