// BatchExecutor: runs storage work off the shard threads. Writes go through one writer thread
// that commits them in groups (group commit); reads go to a small pool of reader threads.
//
// Threads and ownership:
//   - Submit()/SubmitRead()/stats() may be called from any thread, shards included: they take a
//     short mutex to push onto a queue and never wait for I/O. They never call a callback
//     inline; a job that is refused (queue full, stopping) is reported by the return value and
//     destroyed unrun.
//   - The writer thread owns the read-write SqliteDb; each reader thread owns one read-only
//     SqliteDb. A job's `run` gets that connection and must not keep it, or anything from it,
//     past its return.
//   - `done` callbacks run on the writer (or reader) thread. They must be cheap (the engine's
//     post a Mail to the shard that asked) and must not block. They may call Submit() (it never
//     blocks) but never Stop() or the destructor (the thread would join itself: it aborts).
//
// Write path. The writer takes everything queued, up to batch_max jobs; if fewer are queued
// and batch_delay_us > 0 it waits up to that long for the batch to fill. Then:
//   BEGIN IMMEDIATE
//     for each job: SAVEPOINT; run(db); ok -> RELEASE, error -> ROLLBACK TO + RELEASE
//   COMMIT
// and only then calls every `done`, in submission order, each with its own job's Status. So a
// job whose `run` fails (a constraint violated by bad input, a Status it returns) fails alone and
// its neighbours still commit. If an error ends the whole transaction (SQLite rolls back
// everything on e.g. SQLITE_FULL, SQLITE_IOERR, SQLITE_INTERRUPT), the failing job is reported
// and the batch is retried without it: `run` functions may therefore run more than once, must
// have no effect outside the connection other than idempotently overwriting their own outputs,
// and must not assume an earlier run's database effects survived. If COMMIT itself fails, every
// job of that batch fails with that Status (nothing of it is in the database).
// `done` with an ok Status therefore means: this job's writes are committed, with the
// durability of DbOptions::synchronous (see storage/README.md).
//
// With batch_delay_us = 0 batching still happens by itself under load: jobs queue up while the
// writer is committing (fsync), and the next batch takes them all. A delay trades latency at low
// load for fewer, bigger transactions at moderate load; commit_interval_us does the same at
// moderate load only (it waits only when the previous batch began less than that long ago).
//
// Read path. Each read job runs in its own deferred transaction (one consistent WAL snapshot for
// all of its statements) on whichever reader is free. A read submitted after a write's `done`
// was called sees that write. WAL lets readers proceed while the writer commits.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics/metric_set.h"
#include "storage/sqlite_db.h"
#include "storage/status.h"
#include "storage/unique_function.h"
#include "storage/wait_bound.h"

namespace ringcast::storage {

// Returns ok to commit its changes, or an error to have them rolled back (its own only).
using JobFn = UniqueFunction<Status(SqliteDb& db)>;
// Receives the job's outcome after the batch's commit (or the read's end).
using DoneFn = UniqueFunction<void(Status status)>;

struct ExecutorOptions {
  DbOptions db;                 // path, synchronous, busy timeout; read_only is ignored.
  uint32_t batch_max = 256;     // Jobs per write transaction at most.
  uint32_t batch_delay_us = 0;  // Wait this long for a partial batch to fill; 0 = never wait.
  // A batch begins at least this long after the previous one began (waiting for more jobs,
  // unless batch_max are queued); after a pause it begins at once. So under steady load the
  // commits are paced and bigger, which writes less WAL per message (each commit writes every
  // page it dirtied) and fsyncs less, while an isolated write waits for nothing. 0 = off (the
  // server's default is --commit-interval-us).
  uint32_t commit_interval_us = 0;
  uint32_t readers = 2;  // Reader threads, each with its own read-only connection (>= 1).
  // Database files the readers attach besides db.path, as (schema name, path).
  std::vector<std::pair<std::string, std::string>> reader_attach;
  // Back-pressure: Submit() refuses (kQueueFull) past this many queued writes, so a stalled
  // disk turns into errors the engine can answer with, not unbounded memory. 0 = no limit.
  uint32_t max_queued_writes = 1 << 20;
  size_t max_queued_reads = 1 << 20;  // The same for reads. 0 = no limit.
  // Back-pressure by time (WaitBound): Submit() refuses (kQueueFull) a write that would wait
  // longer than this before its batch begins, estimated from the queue ahead of it and the
  // writer's rate while backlogged, or once the oldest queued write has waited this long. A
  // queue shorter than batch_max is never refused. 0 = no limit. Reads are bounded by count
  // only.
  uint32_t max_wait_ms = 0;
  // WAL frames after which the checkpointer thread copies the WAL into the database file. The
  // writer never checkpoints itself: a checkpoint reads the WAL back and fsyncs the database,
  // which would stall every ack queued behind it.
  uint32_t checkpoint_pages = 8000;
  // With db.synchronous == kFull: the writer commits without waiting for the disk (SQLite's
  // NORMAL) and a syncer thread fdatasyncs the WAL, then calls the batch's `done`s; meanwhile
  // the writer already runs the next batch. A `done` still means "committed and on disk".
  bool sync_off_writer = true;

  // The WAL's bound (storage/README.md, "Keeping the WAL small"). Under steady writes PASSIVE
  // checkpoints never catch up with the writer, so SQLite never starts the WAL over and it
  // grows for good (checkpoint starvation). Once the WAL holds half of wal_bound_bytes, the
  // checkpointer holds the writer between two batches and runs a RESTART checkpoint, after
  // which the next commit writes from the start of the file (and truncates it to SQLite's
  // journal_size_limit). Passing wal_bound_bytes itself logs a warning. 0 = no bound.
  uint64_t wal_bound_bytes = 256ull << 20;
  // Past this the writer refuses writes (kUnavailable) until a checkpoint gets the WAL started
  // over: a reader pinning an old snapshot, or a disk too slow for the checkpoints, must not
  // fill the disk. 0 = never refuse.
  uint64_t wal_hard_cap_bytes = 1ull << 30;
  // After this long without a commit the checkpointer copies the WAL's tail back and truncates
  // the WAL to 0 bytes (TRUNCATE), so the WAL of a server whose writes paused is empty. 0 = off.
  uint32_t wal_idle_checkpoint_ms = 1000;
  // How long a RESTART or TRUNCATE checkpoint waits for readers to leave the WAL, with the
  // writer held, before it gives up until its next try.
  uint32_t wal_restart_wait_ms = 100;
  // Where the WAL's warnings go (storage/ has no logger of its own); null: stderr.
  void (*log)(bool warning, const std::string& line) = nullptr;
};

// Counters for metrics. Monotonic except queued_* (current depth) and max_batch (a maximum).
struct ExecutorStats {
  uint64_t batches = 0;     // Write transactions committed (or attempted and failed).
  uint64_t write_jobs = 0;  // Write jobs finished (ok or failed).
  uint64_t failed_write_jobs = 0;
  uint64_t batch_retries = 0;    // Batches re-run without a job that aborted the transaction.
  uint64_t commit_failures = 0;  // Batches whose COMMIT (or BEGIN) failed: all their jobs failed.
  uint64_t max_batch = 0;        // Largest batch so far, in jobs.
  uint64_t read_jobs = 0;
  uint64_t failed_read_jobs = 0;
  uint64_t rejected = 0;      // Submit/SubmitRead calls refused (full, too long a wait, stopped).
  uint64_t refused_wait = 0;  // Of those, writes refused by max_wait_ms.
  double write_rate = 0;      // The writer's jobs/s while backlogged (0: not seen yet).
  double write_wait_estimate = 0;  // Seconds a write submitted now would wait (by the rate).
  uint64_t queued_writes = 0;
  uint64_t queued_reads = 0;
  uint64_t checkpoints = 0;
  uint64_t syncs = 0;  // fdatasync calls by the syncer.
  // The WAL (SQLite's frames: a page plus a 24-byte header each).
  uint64_t wal_frames = 0;         // Frames in the WAL after the last commit (0 once started over).
  uint64_t wal_backfilled = 0;     // Of those, copied back into the database by a checkpoint.
  uint64_t wal_file_bytes = 0;     // Size of the -wal file (refreshed by the checkpointer).
  uint64_t wal_written_bytes = 0;  // Bytes of frames written by commits, in total.
  uint64_t wal_restarts = 0;       // Times the WAL was started over from its beginning.
  uint64_t wal_over_bound = 0;     // Times the WAL passed wal_bound_bytes.
  uint64_t wal_refused_writes = 0;  // Write jobs refused past wal_hard_cap_bytes.
  uint64_t page_size = 0;
  // Checkpoints by mode and result: [passive, restart, truncate] x [ok, busy, error]. "ok" is
  // a checkpoint that did all it was asked (RESTART/TRUNCATE: the WAL starts over); "busy" one
  // that a reader or the writer cut short.
  uint64_t checkpoint_results[3][3] = {};
};

enum class CheckpointMode : uint8_t { kPassive, kRestart, kTruncate };
enum class CheckpointResult : uint8_t { kOk, kBusy, kError };
const char* CheckpointModeName(CheckpointMode mode);
const char* CheckpointResultName(CheckpointResult result);

enum class Admission : uint8_t { kQueued, kQueueFull, kStopped };

// How a write job is kept apart from its neighbours in the batch.
enum class Isolation : uint8_t {
  kSavepoint,    // Its own SAVEPOINT: a failure undoes all of its writes, whatever they were.
  kSingleWrite,  // At most one writing statement, which SQLite undoes by itself if it fails;
                 // the job must not fail after that statement succeeded. Saves two statements
                 // per job on the hot path (message appends).
};

class BatchExecutor {
 public:
  // Opens the writer connection, runs Migrate() on it, opens the reader connections, then
  // starts the threads. On error nothing is left running.
  static Result<std::unique_ptr<BatchExecutor>> Start(const ExecutorOptions& options);

  BatchExecutor(const BatchExecutor&) = delete;
  BatchExecutor& operator=(const BatchExecutor&) = delete;
  ~BatchExecutor();  // Stop().

  // Queues a write job. kQueued: `done` will be called exactly once. Otherwise neither
  // callable runs (they are destroyed here) and the caller answers the client itself.
  [[nodiscard]] Admission Submit(JobFn run, DoneFn done,
                                 Isolation isolation = Isolation::kSavepoint);
  // Queues a write job of the store's own upkeep (SqliteChatStore's cid merges) ahead of
  // everything queued, so that it runs in the next batch however deep the queue is, and past
  // max_queued_writes (the caller keeps at most one queued). It has no ordering duty towards
  // the jobs it overtakes. Same contract otherwise.
  [[nodiscard]] Admission SubmitUpkeep(JobFn run, DoneFn done);
  // Queues a read job for the reader pool; same contract. `run` gets a read-only connection.
  [[nodiscard]] Admission SubmitRead(JobFn run, DoneFn done);

  // Graceful shutdown: refuses new jobs, lets the writer commit what is already queued and the
  // readers run theirs, then joins the threads and closes the connections (the writer last,
  // which checkpoints the WAL). Every accepted job's `done` is called, in the usual order. Jobs
  // still queued `drain_limit` after the call are not run: their `done` gets kStopped (so a
  // queue grown deep under overload does not hold a shutdown for as long as it would take to
  // commit; nobody was told they succeeded). Idempotent (the first call's limit holds). Must
  // not be called from a `done` or `run` callback.
  static constexpr std::chrono::milliseconds kDrainEverything = std::chrono::milliseconds::max();
  void Stop(std::chrono::milliseconds drain_limit = kDrainEverything);

  ExecutorStats stats() const;
  // Jobs per batch, and seconds from BEGIN to the end of COMMIT of each.
  Histogram batch_sizes() const { return batch_sizes_.Snapshot(); }
  Histogram commit_seconds() const { return commit_seconds_.Snapshot(); }
  // Seconds each write waited in the queue, from Submit to the start of its batch.
  Histogram queue_wait_seconds() const { return queue_wait_seconds_.Snapshot(); }
  // Seconds the writer was held for each RESTART/TRUNCATE checkpoint (what it costs acks).
  Histogram writer_held_seconds() const { return writer_held_seconds_.Snapshot(); }
  const ExecutorOptions& options() const { return options_; }

 private:
  struct Job {
    JobFn run;
    DoneFn done;
    Status status;
    Isolation isolation = Isolation::kSavepoint;
    std::chrono::steady_clock::time_point queued_at{};  // Writes: for the wait bound.
  };

  explicit BatchExecutor(const ExecutorOptions& options)
      : options_(options),
        wait_bound_(std::chrono::milliseconds(options.max_wait_ms), options.batch_max) {}
  Admission Enqueue(Job job, bool upkeep);
  void WriterLoop();
  void ReaderLoop(SqliteDb* db);
  void CheckpointLoop();
  // Checkpointer thread: one checkpoint in `mode`, counted; true if it did all it was asked.
  bool Checkpoint(CheckpointMode mode);
  // Checkpointer thread: copies the WAL back, then holds the writer between two batches for a
  // RESTART or TRUNCATE checkpoint. True if the WAL starts over at the next commit.
  bool StartOver(CheckpointMode mode);
  void RefreshWalFileSize();
  void Log(bool warning, const std::string& line) const;
  void SyncerLoop();
  void Complete(std::vector<Job>& jobs);  // Calls the `done`s, in order.
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int pages);
  void RunBatch(std::vector<Job>& batch);
  void RunReadJob(SqliteDb& db, Job& job);
  static constexpr auto kNever = std::chrono::steady_clock::time_point::max();
  static Status RunJobGuarded(SqliteDb& db, JobFn& run);

  const ExecutorOptions options_;
  WaitBound wait_bound_;  // Writes: Submit admits, the writer measures its rate.
  std::unique_ptr<SqliteDb> writer_db_;
  std::vector<std::unique_ptr<SqliteDb>> reader_dbs_;

  std::mutex write_mutex_;
  std::condition_variable write_cv_;
  std::deque<Job> writes_;       // Guarded by write_mutex_.
  bool writer_idle_ = false;     // Waiting for the first job: any Submit wakes it.
  bool writer_filling_ = false;  // Waiting out batch_delay_us: wake only on a full batch.
  std::chrono::steady_clock::time_point last_batch_began_;  // Writer thread (commit pacing).
  bool stopping_ = false;  // Guarded by write_mutex_: Submit refuses, the writer drains.
  // The checkpointer's hold on the writer (StartOver), guarded by write_mutex_: while
  // hold_writes_ the writer starts no batch; writer_busy_ is true while it runs one, and the
  // checkpointer waits on hold_cv_ for it to finish.
  bool hold_writes_ = false;
  bool writer_busy_ = false;
  std::condition_variable hold_cv_;
  // Once stopping: writes not started by then fail with kStopped. Guarded by write_mutex_.
  std::chrono::steady_clock::time_point write_drain_deadline_ = kNever;

  std::mutex read_mutex_;
  std::condition_variable read_cv_;
  std::deque<Job> reads_;          // Guarded by read_mutex_.
  bool readers_stopping_ = false;  // Guarded by read_mutex_: SubmitRead refuses, readers drain.
  std::chrono::steady_clock::time_point read_drain_deadline_ = kNever;  // Guarded by read_mutex_.

  // The writer thread's (OnWalCommit): the WAL's size after the last commit, and the size at
  // which the checkpointer is woken next.
  uint32_t wal_frames_seen_ = 0;
  uint32_t wal_wake_at_ = 0;
  bool wal_over_bound_ = false;   // Warned about this episode already (writer thread).
  bool refusing_writes_ = false;  // Past the hard cap (writer thread).
  // Frame counts from the byte limits (fixed at Start; 0 = none).
  uint64_t frame_bytes_ = 0;
  uint32_t passive_frames_ = 1;  // checkpoint_pages, or less under a small bound.
  uint64_t restart_frames_ = 0;
  uint64_t bound_frames_ = 0;
  uint64_t hard_cap_frames_ = 0;
  // Set by the checkpointer when the WAL will start over at the next commit.
  std::atomic<bool> wal_reset_{false};
  int wal_size_fd_ = -1;           // The -wal file, for its size: the checkpointer's.
  int last_checkpoint_error_ = 0;  // SQLITE_OK, or the error last logged (checkpointer thread).
  std::atomic<uint64_t> wal_frames_{0};
  std::atomic<uint64_t> wal_backfilled_{0};
  std::atomic<uint64_t> wal_file_bytes_{0};
  std::atomic<uint64_t> wal_written_bytes_{0};
  std::atomic<uint64_t> wal_restarts_{0};
  std::atomic<uint64_t> wal_over_bound_count_{0};
  std::atomic<uint64_t> wal_refused_writes_{0};
  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> checkpoint_results_[3][3] = {};
  SharedHistogram writer_held_seconds_{LatencyBuckets()};
  std::unique_ptr<SqliteDb> checkpoint_db_;
  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_due_ = false;         // Guarded by checkpoint_mutex_.
  bool checkpointer_stopping_ = false;  // Guarded by checkpoint_mutex_.
  std::thread checkpoint_thread_;
  // The syncer (sync_off_writer): batches committed but not yet on disk, oldest first.
  int wal_fd_ = -1;
  std::mutex sync_mutex_;
  std::condition_variable sync_cv_;
  std::vector<Job> unsynced_;     // Guarded by sync_mutex_.
  bool syncer_stopping_ = false;  // Guarded by sync_mutex_.
  std::thread syncer_thread_;
  std::thread writer_thread_;
  std::vector<std::thread> reader_threads_;
  // Ids of the threads above, fixed once Start() returns: Stop() compares against these rather
  // than the std::thread objects, which a concurrent Stop() may be joining.
  std::vector<std::thread::id> own_thread_ids_;
  std::once_flag stop_once_;

  // Written by the executor threads, read by stats() from anywhere.
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> write_jobs_{0};
  std::atomic<uint64_t> failed_write_jobs_{0};
  std::atomic<uint64_t> batch_retries_{0};
  std::atomic<uint64_t> commit_failures_{0};
  SharedHistogram batch_sizes_{SizeBuckets()};
  SharedHistogram commit_seconds_{LatencyBuckets()};
  SharedHistogram queue_wait_seconds_{LatencyBuckets()};
  std::atomic<uint64_t> max_batch_{0};
  std::atomic<uint64_t> read_jobs_{0};
  std::atomic<uint64_t> failed_read_jobs_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> queued_writes_{0};
  std::atomic<uint64_t> queued_reads_{0};
  std::atomic<uint64_t> checkpoints_{0};
  std::atomic<uint64_t> syncs_{0};
};

}  // namespace ringcast::storage
