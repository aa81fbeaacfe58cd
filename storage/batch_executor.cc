#include "storage/batch_executor.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <utility>

#include "core/runtime/deferred_wakes.h"
#include "storage/migrations.h"

namespace ringcast::storage {
namespace {

// Unlikely to collide with a savepoint a job opens for its own use.
constexpr std::string_view kJobSavepoint = "ringcast_job";

void UpdateMax(std::atomic<uint64_t>& max, uint64_t value) {
  uint64_t seen = max.load(std::memory_order_relaxed);
  while (value > seen && !max.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

Result<std::unique_ptr<BatchExecutor>> BatchExecutor::Start(const ExecutorOptions& options) {
  ExecutorOptions fixed = options;
  fixed.batch_max = std::max<uint32_t>(fixed.batch_max, 1);
  fixed.readers = std::max<uint32_t>(fixed.readers, 1);
  fixed.db.read_only = false;
  std::unique_ptr<BatchExecutor> executor(new BatchExecutor(fixed));

  // The writer first: it creates the file, switches it to WAL and migrates it, so the readers
  // open a database that has its final schema.
  const bool syncer = fixed.sync_off_writer && fixed.db.synchronous == Synchronous::kFull;
  DbOptions writer_options = fixed.db;
  if (syncer) writer_options.synchronous = Synchronous::kNormal;  // The syncer fsyncs instead.
  Result<std::unique_ptr<SqliteDb>> writer = SqliteDb::Open(writer_options);
  if (!writer.ok()) return writer.status();
  if (Status s = Migrate(**writer); !s.ok()) return s;
  if (Status s = (*writer)->Exec("PRAGMA wal_autocheckpoint = 0"); !s.ok()) return s;
  Result<int64_t> page_size = (*writer)->QueryInt64("PRAGMA page_size");
  if (!page_size.ok()) return page_size.status();
  executor->frame_bytes_ = static_cast<uint64_t>(*page_size) + 24;  // SQLite's frame header.
  // Half the bound: the WAL goes on growing while the RESTART waits for its turn.
  executor->restart_frames_ = fixed.wal_bound_bytes / 2 / executor->frame_bytes_;
  executor->bound_frames_ = fixed.wal_bound_bytes / executor->frame_bytes_;
  executor->hard_cap_frames_ = fixed.wal_hard_cap_bytes / executor->frame_bytes_;
  executor->passive_frames_ = std::max<uint32_t>(1, fixed.checkpoint_pages);
  if (executor->restart_frames_ != 0) {
    // PASSIVE checkpoints well before the restart, so that little is left to copy while the
    // writer is held.
    executor->passive_frames_ = static_cast<uint32_t>(std::min<uint64_t>(
        executor->passive_frames_, std::max<uint64_t>(1, executor->restart_frames_ / 4)));
  }
  executor->wal_wake_at_ = executor->passive_frames_;
  if (fixed.wal_bound_bytes != 0) {
    // The commit that starts the WAL over truncates the file to this: half the bound at most
    // (SqliteDb sets 64 MiB), so one overshoot does not keep the file past the bound for good.
    const uint64_t limit = std::min<uint64_t>(uint64_t{64} << 20, fixed.wal_bound_bytes / 2);
    if (Status s = (*writer)->Exec("PRAGMA journal_size_limit = " + std::to_string(limit));
        !s.ok()) {
      return s;
    }
  }
  sqlite3_wal_hook((*writer)->raw(), &BatchExecutor::OnWalCommit, executor.get());
  executor->writer_db_ = std::move(writer).value();
  if (syncer) {
    // The WAL exists from the migration on and stays while any connection is open; SQLite
    // rewrites and truncates it in place, so this descriptor always names the live file.
    std::string wal = fixed.db.path + "-wal";
    executor->wal_fd_ = open(wal.c_str(), O_RDONLY | O_CLOEXEC);
    if (executor->wal_fd_ < 0) {
      return Status(Errc::kIo, "cannot open " + wal + ": " + std::strerror(errno));
    }
  }
  {
    std::string wal = fixed.db.path + "-wal";
    executor->wal_size_fd_ = open(wal.c_str(), O_RDONLY | O_CLOEXEC);
    if (executor->wal_size_fd_ < 0) {
      return Status(Errc::kIo, "cannot open " + wal + ": " + std::strerror(errno));
    }
  }
  Result<std::unique_ptr<SqliteDb>> checkpointer = SqliteDb::Open(fixed.db);
  if (!checkpointer.ok()) return checkpointer.status();
  executor->checkpoint_db_ = std::move(checkpointer).value();

  DbOptions reader_options = fixed.db;
  reader_options.read_only = true;
  reader_options.attach = fixed.reader_attach;
  for (uint32_t i = 0; i < fixed.readers; ++i) {
    Result<std::unique_ptr<SqliteDb>> reader = SqliteDb::Open(reader_options);
    if (!reader.ok()) return reader.status();  // ~BatchExecutor: no threads yet, closes dbs.
    executor->reader_dbs_.push_back(std::move(reader).value());
  }

  // Connections were opened here and are handed to their threads by the thread start, which
  // orders everything above before the threads' first use.
  executor->writer_thread_ = std::thread([raw = executor.get()] { raw->WriterLoop(); });
  executor->checkpoint_thread_ = std::thread([raw = executor.get()] { raw->CheckpointLoop(); });
  if (syncer) {
    executor->syncer_thread_ = std::thread([raw = executor.get()] { raw->SyncerLoop(); });
    executor->own_thread_ids_.push_back(executor->syncer_thread_.get_id());
  }
  for (auto& db : executor->reader_dbs_) {
    executor->reader_threads_.emplace_back(
        [raw = executor.get(), db = db.get()] { raw->ReaderLoop(db); });
  }
  executor->own_thread_ids_.push_back(executor->writer_thread_.get_id());
  executor->own_thread_ids_.push_back(executor->checkpoint_thread_.get_id());
  for (const std::thread& reader : executor->reader_threads_) {
    executor->own_thread_ids_.push_back(reader.get_id());
  }
  return executor;
}

BatchExecutor::~BatchExecutor() { Stop(); }

Admission BatchExecutor::Submit(JobFn run, DoneFn done, Isolation isolation) {
  return Enqueue(Job{std::move(run), std::move(done), Status(), isolation}, /*upkeep=*/false);
}

Admission BatchExecutor::SubmitUpkeep(JobFn run, DoneFn done) {
  return Enqueue(Job{std::move(run), std::move(done), Status(), Isolation::kSavepoint},
                 /*upkeep=*/true);
}

Admission BatchExecutor::Enqueue(Job job, bool upkeep) {
  bool wake = false;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(write_mutex_);
    if (stopping_) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return Admission::kStopped;
    }
    if (!upkeep && options_.max_queued_writes != 0 &&
        writes_.size() >= options_.max_queued_writes) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return Admission::kQueueFull;
    }
    const auto oldest = writes_.empty() ? now : writes_.front().queued_at;
    if (!upkeep && !wait_bound_.Admit(writes_.size(), now - oldest)) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return Admission::kQueueFull;
    }
    // An upkeep job goes first but takes the age of the one it overtakes, so that the oldest
    // write's age stays what it was.
    job.queued_at = upkeep ? oldest : now;
    if (upkeep) {
      writes_.push_front(std::move(job));
    } else {
      writes_.push_back(std::move(job));
    }
    queued_writes_.store(writes_.size(), std::memory_order_relaxed);
    // One notify per wait: the flags are cleared here so later submits skip the syscall.
    if (writer_idle_) {
      writer_idle_ = false;
      wake = true;
    } else if (writer_filling_ && writes_.size() >= options_.batch_max) {
      writer_filling_ = false;
      wake = true;
    }
  }
  if (wake) {
    DeferredWakes::WakeSoon(
        [](void* executor) { static_cast<BatchExecutor*>(executor)->write_cv_.notify_one(); },
        this);
  }
  return Admission::kQueued;
}

Admission BatchExecutor::SubmitRead(JobFn run, DoneFn done) {
  {
    std::lock_guard lock(read_mutex_);
    if (readers_stopping_) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return Admission::kStopped;
    }
    if (options_.max_queued_reads != 0 && reads_.size() >= options_.max_queued_reads) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return Admission::kQueueFull;
    }
    reads_.push_back(Job{std::move(run), std::move(done), Status()});
    queued_reads_.store(reads_.size(), std::memory_order_relaxed);
  }
  read_cv_.notify_one();
  return Admission::kQueued;
}

void BatchExecutor::Stop(std::chrono::milliseconds drain_limit) {
  // Checked before call_once: a callback calling Stop() while another thread is already in
  // Stop() would otherwise block in call_once waiting for a join of its own thread.
  const std::thread::id self = std::this_thread::get_id();
  if (std::find(own_thread_ids_.begin(), own_thread_ids_.end(), self) != own_thread_ids_.end()) {
    std::fprintf(stderr, "storage: fatal: BatchExecutor::Stop() called from its own thread\n");
    std::abort();
  }

  std::call_once(stop_once_, [this, drain_limit] {
    const auto deadline =
        drain_limit == kDrainEverything ? kNever : std::chrono::steady_clock::now() + drain_limit;
    {
      std::lock_guard lock(write_mutex_);
      stopping_ = true;
      write_drain_deadline_ = deadline;
    }
    write_cv_.notify_all();
    hold_cv_.notify_all();
    {
      std::lock_guard lock(read_mutex_);
      readers_stopping_ = true;
      read_drain_deadline_ = deadline;
    }
    read_cv_.notify_all();
    if (writer_thread_.joinable()) writer_thread_.join();
    for (std::thread& reader : reader_threads_) reader.join();
    {
      std::lock_guard lock(sync_mutex_);
      syncer_stopping_ = true;
    }
    sync_cv_.notify_all();
    if (syncer_thread_.joinable()) syncer_thread_.join();  // After it made the last batch durable.
    if (wal_fd_ >= 0) close(wal_fd_);
    wal_fd_ = -1;
    {
      std::lock_guard lock(checkpoint_mutex_);
      checkpointer_stopping_ = true;
    }
    checkpoint_cv_.notify_all();
    if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
    checkpoint_db_.reset();
    if (wal_size_fd_ >= 0) close(wal_size_fd_);
    wal_size_fd_ = -1;

    // The threads are gone, so this thread may use their connections now.
    reader_dbs_.clear();
    if (writer_db_ != nullptr) {
      // Cheap (it only analyzes tables whose statistics look stale) and keeps plans good.
      (void)writer_db_->Exec("PRAGMA optimize");
      writer_db_.reset();  // The last connection to close checkpoints and removes the WAL.
    }
  });
}

ExecutorStats BatchExecutor::stats() const {
  ExecutorStats out;
  out.batches = batches_.load(std::memory_order_relaxed);
  out.write_jobs = write_jobs_.load(std::memory_order_relaxed);
  out.failed_write_jobs = failed_write_jobs_.load(std::memory_order_relaxed);
  out.batch_retries = batch_retries_.load(std::memory_order_relaxed);
  out.commit_failures = commit_failures_.load(std::memory_order_relaxed);
  out.max_batch = max_batch_.load(std::memory_order_relaxed);
  out.read_jobs = read_jobs_.load(std::memory_order_relaxed);
  out.failed_read_jobs = failed_read_jobs_.load(std::memory_order_relaxed);
  out.rejected = rejected_.load(std::memory_order_relaxed);
  out.refused_wait = wait_bound_.refused();
  out.write_rate = wait_bound_.rate();
  out.queued_writes = queued_writes_.load(std::memory_order_relaxed);
  out.write_wait_estimate = wait_bound_.EstimateSeconds(out.queued_writes);
  out.queued_reads = queued_reads_.load(std::memory_order_relaxed);
  out.checkpoints = checkpoints_.load(std::memory_order_relaxed);
  out.syncs = syncs_.load(std::memory_order_relaxed);
  out.wal_frames = wal_frames_.load(std::memory_order_relaxed);
  out.wal_backfilled = std::min(out.wal_frames, wal_backfilled_.load(std::memory_order_relaxed));
  out.wal_file_bytes = wal_file_bytes_.load(std::memory_order_relaxed);
  out.wal_written_bytes = wal_written_bytes_.load(std::memory_order_relaxed);
  out.wal_restarts = wal_restarts_.load(std::memory_order_relaxed);
  out.wal_over_bound = wal_over_bound_count_.load(std::memory_order_relaxed);
  out.wal_refused_writes = wal_refused_writes_.load(std::memory_order_relaxed);
  out.page_size = frame_bytes_ > 24 ? frame_bytes_ - 24 : 0;
  for (int m = 0; m < 3; ++m) {
    for (int r = 0; r < 3; ++r) {
      out.checkpoint_results[m][r] = checkpoint_results_[m][r].load(std::memory_order_relaxed);
    }
  }
  return out;
}

void BatchExecutor::WriterLoop() {
  pthread_setname_np(pthread_self(), "store-writer");
  std::vector<Job> batch;
  batch.reserve(options_.batch_max);
  // The previous batch, for the wait bound's rate: one that left writes queued behind it was
  // taken by a backlogged writer, and the time to the next batch's start is its whole cycle
  // (its run, the commit pacing, a checkpoint's hold), the rate a queued write sees.
  std::chrono::steady_clock::time_point previous_began{};
  size_t previous_take = 0;
  bool previous_backlog = false;
  std::unique_lock lock(write_mutex_);
  for (;;) {
    if (writer_busy_) {
      writer_busy_ = false;
      if (hold_writes_) hold_cv_.notify_all();
    }
    while ((writes_.empty() || hold_writes_) && !stopping_) {
      // Held (StartOver): Submit need not wake the writer, the checkpointer will.
      writer_idle_ = !hold_writes_;
      write_cv_.wait(lock);
    }
    writer_idle_ = false;
    if (writes_.empty()) break;  // Stopping, and everything accepted has been committed.

    const auto batch_full = [this] { return stopping_ || writes_.size() >= options_.batch_max; };
    if (options_.batch_delay_us > 0 && !batch_full()) {
      writer_filling_ = true;
      write_cv_.wait_for(lock, std::chrono::microseconds(options_.batch_delay_us), batch_full);
      writer_filling_ = false;
      if (hold_writes_ && !stopping_) continue;  // The hold began meanwhile.
    }
    // Under load, pace the commits: what arrives meanwhile joins this one. An isolated write
    // (the last commit long ago) goes at once.
    const auto commit_due =
        last_batch_began_ + std::chrono::microseconds(options_.commit_interval_us);
    if (options_.commit_interval_us > 0 && !batch_full() &&
        std::chrono::steady_clock::now() < commit_due) {
      writer_filling_ = true;
      write_cv_.wait_until(lock, commit_due, batch_full);
      writer_filling_ = false;
      if (hold_writes_ && !stopping_) continue;
    }
    last_batch_began_ = std::chrono::steady_clock::now();
    writer_busy_ = true;
    if (previous_backlog) {
      wait_bound_.NoteBacklog(
          previous_take, std::chrono::duration<double>(last_batch_began_ - previous_began).count());
    }

    // Past the drain deadline everything left fails at once, still in order behind the
    // batches already committed.
    const bool abandon = stopping_ && write_drain_deadline_ != kNever &&
                         std::chrono::steady_clock::now() >= write_drain_deadline_;
    const size_t take =
        abandon ? writes_.size() : std::min<size_t>(writes_.size(), options_.batch_max);
    for (size_t i = 0; i < take; ++i) {
      batch.push_back(std::move(writes_.front()));
      writes_.pop_front();
    }
    queued_writes_.store(writes_.size(), std::memory_order_relaxed);
    previous_began = last_batch_began_;
    previous_take = take;
    previous_backlog = !abandon && !writes_.empty();
    lock.unlock();
    for (const Job& job : batch) {
      queue_wait_seconds_.Observe(
          std::chrono::duration<double>(last_batch_began_ - job.queued_at).count());
    }

    const bool over_cap =
        hard_cap_frames_ != 0 && wal_frames_.load(std::memory_order_relaxed) >= hard_cap_frames_;
    if (over_cap) previous_backlog = false;  // Refused at once: no measure of the writer's rate.
    if (over_cap != refusing_writes_) {
      refusing_writes_ = over_cap;
      char line[320];
      if (over_cap) {
        std::snprintf(
            line, sizeof line,
            "storage: refusing writes: the WAL of %s holds %.1f MiB, past its hard cap "
            "of %.1f MiB (--wal-hard-cap-mib), and checkpoints cannot start it over (a "
            "reader holding an old snapshot, or a disk too slow); writes resume once "
            "one does",
            options_.db.path.c_str(),
            double(wal_frames_.load(std::memory_order_relaxed)) * double(frame_bytes_) / 1048576.0,
            double(options_.wal_hard_cap_bytes) / 1048576.0);
      } else {
        std::snprintf(line, sizeof line,
                      "storage: the WAL of %s started over: writes accepted again",
                      options_.db.path.c_str());
      }
      Log(over_cap, line);
    }
    if (abandon) {
      for (Job& job : batch) job.status = Status(Errc::kStopped, "not run: the store stopped");
      write_jobs_.fetch_add(batch.size(), std::memory_order_relaxed);
      failed_write_jobs_.fetch_add(batch.size(), std::memory_order_relaxed);
      std::fprintf(stderr, "storage: stopping: %zu queued writes not run (drain limit)\n",
                   batch.size());
    } else if (over_cap) {
      for (Job& job : batch) {
        job.status = Status(Errc::kUnavailable, "not run: the WAL is past --wal-hard-cap-mib");
      }
      write_jobs_.fetch_add(batch.size(), std::memory_order_relaxed);
      failed_write_jobs_.fetch_add(batch.size(), std::memory_order_relaxed);
      wal_refused_writes_.fetch_add(batch.size(), std::memory_order_relaxed);
    } else {
      RunBatch(batch);
    }
    if (syncer_thread_.joinable()) {
      {
        std::lock_guard sync_lock(sync_mutex_);
        for (Job& job : batch) unsynced_.push_back(std::move(job));
      }
      sync_cv_.notify_one();
    } else {
      Complete(batch);  // Acks follow the commit (here: its fsync), in submission order.
    }
    batch.clear();  // Destroys the callables (and what they own) outside the lock.
    lock.lock();
  }
}

void BatchExecutor::Complete(std::vector<Job>& jobs) {
  for (Job& job : jobs) {
    if (job.done) job.done(std::move(job.status));
  }
}

Status BatchExecutor::RunJobGuarded(SqliteDb& db, JobFn& run) {
  if (!run) return Status();
  db.SetTransactionGuard(true);
  Status status;
  try {
    status = run(db);
  } catch (const std::exception& e) {
    status = Status(Errc::kJobFailed, std::string("job threw: ") + e.what());
  } catch (...) {
    status = Status(Errc::kJobFailed, "job threw a non-standard exception");
  }
  db.SetTransactionGuard(false);
  return status;
}

void BatchExecutor::RunBatch(std::vector<Job>& batch) {
  SqliteDb& db = *writer_db_;
  batches_.fetch_add(1, std::memory_order_relaxed);
  UpdateMax(max_batch_, batch.size());
  batch_sizes_.Observe(double(batch.size()));
  const auto began = std::chrono::steady_clock::now();

  // Each pass either commits or marks at least one more job failed, so this ends.
  for (;;) {
    if (Status begin = db.BeginImmediate(); !begin.ok()) {
      for (Job& job : batch) {
        if (job.status.ok()) job.status = begin;
      }
      commit_failures_.fetch_add(1, std::memory_order_relaxed);
      break;
    }

    bool transaction_lost = false;
    for (Job& job : batch) {
      if (!job.status.ok()) continue;  // Failed in an earlier pass: leave it out.
      if (job.isolation == Isolation::kSingleWrite) {
        job.status = RunJobGuarded(db, job.run);
        if (db.InTransaction()) continue;
        if (job.status.ok()) job.status = Status(Errc::kInternal, "transaction ended inside a job");
        transaction_lost = true;
        break;
      }
      Status status = db.Savepoint(kJobSavepoint);
      if (status.ok()) status = RunJobGuarded(db, job.run);
      if (!db.InTransaction()) {
        // SQLite rolled the whole transaction back (it does so on some errors, e.g.
        // SQLITE_FULL or SQLITE_IOERR): the jobs before this one lost their work too.
        job.status = status.ok() ? Status(Errc::kInternal, "transaction ended inside a job")
                                 : std::move(status);
        transaction_lost = true;
        break;
      }
      if (status.ok()) {
        status = db.ReleaseSavepoint(kJobSavepoint);
        if (status.ok()) continue;
      } else {
        // Undo this job's writes only; the savepoint is then released empty.
        Status undo = db.RollbackToSavepoint(kJobSavepoint);
        if (undo.ok()) undo = db.ReleaseSavepoint(kJobSavepoint);
        if (undo.ok()) {
          job.status = std::move(status);
          continue;
        }
      }
      // A savepoint statement failed: the transaction state is unknown, so start over.
      job.status = status.ok() ? Status(Errc::kInternal, "savepoint failed") : std::move(status);
      transaction_lost = true;
      break;
    }

    if (transaction_lost) {
      if (db.InTransaction()) (void)db.Rollback();
      // Retry: the jobs that had succeeded run again from scratch (see the header's contract).
      batch_retries_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }

    if (Status commit = db.Commit(); !commit.ok()) {
      if (db.InTransaction()) (void)db.Rollback();
      for (Job& job : batch) {
        if (job.status.ok()) job.status = commit;
      }
      commit_failures_.fetch_add(1, std::memory_order_relaxed);
    }
    break;
  }

  commit_seconds_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
  uint64_t failed = 0;
  for (const Job& job : batch) failed += job.status.ok() ? 0 : 1;
  write_jobs_.fetch_add(batch.size(), std::memory_order_relaxed);
  failed_write_jobs_.fetch_add(failed, std::memory_order_relaxed);
}

void BatchExecutor::RunReadJob(SqliteDb& db, Job& job) {
  // One deferred transaction per job: all of its statements read the same WAL snapshot.
  if (Status begin = db.BeginDeferred(); !begin.ok()) {
    job.status = std::move(begin);
    return;
  }
  job.status = RunJobGuarded(db, job.run);
  // Nothing was written, so ending the read transaction by rollback loses nothing.
  if (db.InTransaction()) (void)db.Rollback();
}

void BatchExecutor::ReaderLoop(SqliteDb* db) {
  pthread_setname_np(pthread_self(), "store-reader");
  std::unique_lock lock(read_mutex_);
  for (;;) {
    read_cv_.wait(lock, [this] { return !reads_.empty() || readers_stopping_; });
    if (reads_.empty()) break;
    {
      Job job = std::move(reads_.front());
      reads_.pop_front();
      queued_reads_.store(reads_.size(), std::memory_order_relaxed);
      const bool abandon = readers_stopping_ && read_drain_deadline_ != kNever &&
                           std::chrono::steady_clock::now() >= read_drain_deadline_;
      lock.unlock();

      if (abandon) {
        job.status = Status(Errc::kStopped, "not run: the store stopped");
      } else {
        RunReadJob(*db, job);
      }
      read_jobs_.fetch_add(1, std::memory_order_relaxed);
      if (!job.status.ok()) failed_read_jobs_.fetch_add(1, std::memory_order_relaxed);
      if (job.done) job.done(std::move(job.status));
    }  // The job's callables die here, outside the lock.
    lock.lock();
  }
}

}  // namespace ringcast::storage
