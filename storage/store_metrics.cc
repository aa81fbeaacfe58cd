#include "storage/store_metrics.h"

namespace ringcast::storage {

void CollectStoreMetrics(const StoreFigures& figures, const Histogram& batch_sizes,
                         const Histogram& commit_seconds, MetricSet& out) {
  out.Gauge("ringcast_store_up", "1 while the chat store answers; 0 during an outage",
            figures.up ? 1 : 0, {{"backend", figures.backend}});
  out.Counter("ringcast_store_batches_total", "Write batches (group commits) run",
              double(figures.batches));
  out.Counter("ringcast_store_write_jobs_total", "Write jobs finished (committed or failed)",
              double(figures.jobs));
  out.Counter("ringcast_store_errors_total", "Store jobs that ended with an error",
              double(figures.failed_jobs));
  out.Counter("ringcast_store_rejected_total", "Store jobs refused (queue full or stopping)",
              double(figures.rejected));
  out.Gauge("ringcast_store_queue_depth", "Store jobs queued, not yet running",
            double(figures.queued_writes), {{"kind", "write"}});
  out.Gauge("ringcast_store_queue_depth", "Store jobs queued, not yet running",
            double(figures.queued_reads), {{"kind", "read"}});
  out.Counter("ringcast_store_reconnects_total", "Database connections re-established",
              double(figures.reconnects));
  out.Observations("ringcast_store_batch_size", "Write jobs per batch (group commit)", batch_sizes);
  out.Observations("ringcast_store_commit_seconds",
                   "Seconds a write batch takes, from its start to its commit", commit_seconds);
}

}  // namespace ringcast::storage
