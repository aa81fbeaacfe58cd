#include "storage/store_metrics.h"

#include "storage/batch_executor.h"

namespace ringcast::storage {

void CollectStoreMetrics(const StoreFigures& figures, const Histogram& batch_sizes,
                         const Histogram& commit_seconds, const Histogram& queue_wait_seconds,
                         MetricSet& out) {
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
  out.Counter("ringcast_store_refused_total",
              "Writes answered unavailable at once because they would wait longer than "
              "--max-store-wait-ms",
              double(figures.refused_wait), {{"reason", "wait"}});
  out.Gauge("ringcast_store_write_wait_seconds",
            "Estimated seconds a write submitted now would wait before it runs (writes queued "
            "ahead / the store's rate while backlogged; 0 before any backlog was measured)",
            figures.write_wait_estimate);
  out.Gauge("ringcast_store_write_rate",
            "Writes per second the store drained while backlogged, smoothed (0: not measured)",
            figures.write_rate);
  out.Gauge("ringcast_store_queue_depth", "Store jobs queued, not yet running",
            double(figures.queued_writes), {{"kind", "write"}});
  out.Gauge("ringcast_store_queue_depth", "Store jobs queued, not yet running",
            double(figures.queued_reads), {{"kind", "read"}});
  out.Counter("ringcast_store_reconnects_total", "Database connections re-established",
              double(figures.reconnects));
  out.Observations("ringcast_store_batch_size", "Write jobs per batch (group commit)", batch_sizes);
  out.Observations("ringcast_store_commit_seconds",
                   "Seconds a write batch takes, from its start to its commit", commit_seconds);
  out.Observations("ringcast_store_queue_wait_seconds",
                   "Seconds each write waited in the store's queue, from its submission to the "
                   "start of its batch (bounded by --max-store-wait-ms)",
                   queue_wait_seconds);
}

void CollectWalMetrics(const WalFigures& wal, const Histogram& writer_held_seconds,
                       MetricSet& out) {
  out.Gauge("ringcast_store_wal_bytes", "Size of SQLite's -wal file, in bytes",
            double(wal.file_bytes));
  out.Gauge("ringcast_store_wal_content_bytes",
            "Bytes of frames the WAL holds (since it last started over)",
            double(wal.frames * wal.frame_bytes));
  out.Gauge("ringcast_store_wal_pending_frames",
            "WAL frames not yet copied back into the database by a checkpoint",
            double(wal.pending));
  out.Gauge("ringcast_store_wal_pending_bytes",
            "Bytes of WAL frames not yet copied back into the database by a checkpoint",
            double(wal.pending * wal.frame_bytes));
  out.Gauge("ringcast_store_wal_bound_bytes",
            "--wal-bound-mib in bytes: the WAL is started over at half of it (0: unbounded)",
            double(wal.bound_bytes));
  out.Gauge("ringcast_store_wal_hard_cap_bytes",
            "--wal-hard-cap-mib in bytes: past it writes are refused (0: never)",
            double(wal.hard_cap_bytes));
  out.Counter("ringcast_store_wal_written_bytes_total", "Bytes of WAL frames written by commits",
              double(wal.written_bytes));
  out.Counter("ringcast_store_wal_restarts_total", "Times the WAL started over from its beginning",
              double(wal.restarts));
  out.Counter("ringcast_store_wal_over_bound_total",
              "Times the WAL passed --wal-bound-mib (each logged as a warning)",
              double(wal.over_bound));
  out.Counter("ringcast_store_wal_refused_writes_total",
              "Writes refused (unavailable) because the WAL was past --wal-hard-cap-mib",
              double(wal.refused_writes));
  static constexpr CheckpointMode kModes[] = {CheckpointMode::kPassive, CheckpointMode::kRestart,
                                              CheckpointMode::kTruncate};
  static constexpr CheckpointResult kResults[] = {CheckpointResult::kOk, CheckpointResult::kBusy,
                                                  CheckpointResult::kError};
  for (CheckpointMode mode : kModes) {
    for (CheckpointResult result : kResults) {
      out.Counter("ringcast_store_checkpoints_total",
                  "SQLite checkpoints by mode and result (busy: cut short by a reader or writer)",
                  double(wal.checkpoints[int(mode)][int(result)]),
                  {{"mode", CheckpointModeName(mode)}, {"result", CheckpointResultName(result)}});
    }
  }
  out.Observations("ringcast_store_wal_writer_held_seconds",
                   "Seconds the writer was held for each checkpoint that starts the WAL over",
                   writer_held_seconds);
}

}  // namespace ringcast::storage
