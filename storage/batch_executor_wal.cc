// BatchExecutor's WAL (batch_executor.h): its growth after each commit, the checkpoints (passive,
// restart with the writer held, truncate when idle) on the `store-ckpt` thread, and, with
// --synchronous full, the fdatasync on the `store-sync` thread before the replies. Its queues,
// writer and readers are batch_executor.cc.
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "storage/batch_executor.h"

namespace ringcast::storage {

// Called by SQLite on the writer thread after each commit, with the WAL's size in frames.
int BatchExecutor::OnWalCommit(void* self, sqlite3*, const char*, int pages) {
  auto* executor = static_cast<BatchExecutor*>(self);
  if (pages < 0) return SQLITE_OK;
  const uint32_t frames = static_cast<uint32_t>(pages);
  // The WAL started over if it shrank, or if the checkpointer made sure it would (after an
  // idle TRUNCATE the first commit may well write more frames than were there).
  const bool restarted =
      frames < executor->wal_frames_seen_ || executor->wal_reset_.exchange(false);
  const uint64_t written = restarted ? frames : frames - executor->wal_frames_seen_;
  executor->wal_written_bytes_.fetch_add(written * executor->frame_bytes_,
                                         std::memory_order_relaxed);
  if (restarted) {
    executor->wal_restarts_.fetch_add(1, std::memory_order_relaxed);
    executor->wal_backfilled_.store(0, std::memory_order_relaxed);
    executor->wal_wake_at_ = executor->passive_frames_;
    executor->wal_over_bound_ = false;
  }
  executor->wal_frames_seen_ = frames;
  executor->wal_frames_.store(frames, std::memory_order_relaxed);
  executor->commits_.fetch_add(1, std::memory_order_relaxed);
  if (executor->bound_frames_ != 0 && frames > executor->bound_frames_ &&
      !executor->wal_over_bound_) {
    executor->wal_over_bound_ = true;
    executor->wal_over_bound_count_.fetch_add(1, std::memory_order_relaxed);
    char line[320];
    std::snprintf(line, sizeof line,
                  "storage: the WAL of %s holds %.1f MiB, past its bound of %.1f MiB "
                  "(--wal-bound-mib): checkpoints are not keeping up (a reader holding an old "
                  "snapshot, or a slow disk)",
                  executor->options_.db.path.c_str(),
                  double(frames) * double(executor->frame_bytes_) / 1048576.0,
                  double(executor->options_.wal_bound_bytes) / 1048576.0);
    executor->Log(true, line);
  }
  // The WAL starts over only once a checkpoint has caught up with it and no reader still
  // needs it; until then it stays past the threshold, and waking the checkpointer on every
  // commit ran an incremental checkpoint, with its fsyncs, after nearly every batch (1,624 of
  // them in 5 s at 10,000 msgs/s). Next wake-up: a quarter of the threshold further on. Past
  // the restart point every commit wakes it (it then holds the writer, so there are few).
  const bool restart_due = executor->restart_frames_ != 0 && frames >= executor->restart_frames_;
  if (frames < executor->wal_wake_at_ && !restart_due) return SQLITE_OK;
  executor->wal_wake_at_ = frames + std::max<uint32_t>(1, executor->passive_frames_ / 4);
  bool wake = false;
  {
    std::lock_guard lock(executor->checkpoint_mutex_);
    wake = !executor->checkpoint_due_;
    executor->checkpoint_due_ = true;
  }
  if (wake) executor->checkpoint_cv_.notify_one();
  return SQLITE_OK;
}

// The enums' values index checkpoint_results_ (and the figures' copies of it); so do these.
const char* CheckpointModeName(CheckpointMode mode) {
  static constexpr const char* kNames[] = {"passive", "restart", "truncate"};
  return kNames[static_cast<int>(mode)];
}

const char* CheckpointResultName(CheckpointResult result) {
  static constexpr const char* kNames[] = {"ok", "busy", "error"};
  return kNames[static_cast<int>(result)];
}

void BatchExecutor::Log(bool warning, const std::string& line) const {
  if (options_.log != nullptr) {
    options_.log(warning, line);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

void BatchExecutor::RefreshWalFileSize() {
  struct stat st {};
  if (wal_size_fd_ >= 0 && fstat(wal_size_fd_, &st) == 0) {
    wal_file_bytes_.store(static_cast<uint64_t>(st.st_size), std::memory_order_relaxed);
  }
}

bool BatchExecutor::Checkpoint(CheckpointMode mode) {
  int sqlite_mode = SQLITE_CHECKPOINT_PASSIVE;
  if (mode == CheckpointMode::kRestart) sqlite_mode = SQLITE_CHECKPOINT_RESTART;
  if (mode == CheckpointMode::kTruncate) sqlite_mode = SQLITE_CHECKPOINT_TRUNCATE;
  int wal_frames = 0, copied = 0;
  const int rc =
      sqlite3_wal_checkpoint_v2(checkpoint_db_->raw(), nullptr, sqlite_mode, &wal_frames, &copied);
  CheckpointResult result = CheckpointResult::kOk;
  if (rc == SQLITE_BUSY) {
    result = CheckpointResult::kBusy;
  } else if (rc != SQLITE_OK) {
    result = CheckpointResult::kError;
  } else if (mode == CheckpointMode::kPassive && copied < wal_frames) {
    result = CheckpointResult::kBusy;  // A reader's snapshot kept frames from being copied.
  }
  // Once per kind of failure, not once per try: on a full disk every idle TRUNCATE fails.
  if (result == CheckpointResult::kError && rc != last_checkpoint_error_) {
    char line[256];
    std::snprintf(line, sizeof line, "storage: %s checkpoint of %s failed: %s",
                  CheckpointModeName(mode), options_.db.path.c_str(), sqlite3_errstr(rc));
    Log(true, line);
  }
  if (result != CheckpointResult::kBusy) last_checkpoint_error_ = rc;
  if (copied >= 0) wal_backfilled_.store(static_cast<uint64_t>(copied), std::memory_order_relaxed);
  checkpoints_.fetch_add(1, std::memory_order_relaxed);
  checkpoint_results_[static_cast<int>(mode)][static_cast<int>(result)].fetch_add(
      1, std::memory_order_relaxed);
  return result == CheckpointResult::kOk;
}

bool BatchExecutor::StartOver(CheckpointMode mode) {
  // When the PASSIVE checkpoints have fallen behind, most of the WAL first, while the writer
  // goes on: what is left for the held writer is what it committed meanwhile. Not when the WAL
  // is already close to its bound: the writer would go on past it while the copy (and its
  // fsync of the database) runs.
  const uint64_t frames = wal_frames_.load(std::memory_order_relaxed);
  const uint64_t pending = frames - std::min(frames, wal_backfilled_.load());
  if (pending > passive_frames_ &&
      (bound_frames_ == 0 || frames < bound_frames_ - bound_frames_ / 4)) {
    Checkpoint(CheckpointMode::kPassive);
  }
  const auto held_at = std::chrono::steady_clock::now();
  {
    std::unique_lock lock(write_mutex_);
    hold_writes_ = true;
    hold_cv_.wait(lock, [this] { return !writer_busy_ || stopping_; });
  }
  // Readers only: the writer is out of the way, so this bounds the wait for a reader's
  // snapshot, which then fails the checkpoint with SQLITE_BUSY rather than holding the writer.
  sqlite3_busy_timeout(checkpoint_db_->raw(), static_cast<int>(options_.wal_restart_wait_ms));
  const bool ok = Checkpoint(mode);
  sqlite3_busy_timeout(checkpoint_db_->raw(), options_.db.busy_timeout_ms);
  if (ok) {
    wal_reset_.store(true);
    wal_frames_.store(0, std::memory_order_relaxed);
    wal_backfilled_.store(0, std::memory_order_relaxed);
  }
  {
    std::lock_guard lock(write_mutex_);
    hold_writes_ = false;
  }
  write_cv_.notify_all();
  writer_held_seconds_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - held_at).count());
  return ok;
}

// PASSIVE checkpoints copy what no reader still needs and never block the writer or the
// readers. Under steady writes they never catch up, so past the restart point the WAL is
// started over with the writer held (StartOver), and after wal_idle_checkpoint_ms without a
// commit the tail is copied back and the WAL truncated.
void BatchExecutor::CheckpointLoop() {
  pthread_setname_np(pthread_self(), "store-ckpt");  // 15 characters at most.
  using std::chrono::milliseconds;
  // The gauge of the file's size is refreshed at least this often.
  const milliseconds tick(options_.wal_idle_checkpoint_ms != 0 ? options_.wal_idle_checkpoint_ms
                                                               : 1000);
  milliseconds retry(0);  // Backoff while a RESTART keeps failing (a reader pinning the WAL).
  uint64_t commits_seen = commits_.load(std::memory_order_relaxed);
  // Commits since the last TRUNCATE (the migration's, at start). A RESTART does not clear it:
  // it empties the WAL but leaves the file its size, which only a TRUNCATE gives back.
  bool tail_pending = true;
  for (;;) {
    bool due = false;
    bool timed_out = false;
    {
      std::unique_lock lock(checkpoint_mutex_);
      const milliseconds wait = retry.count() != 0 ? retry : tick;
      timed_out = !checkpoint_cv_.wait_for(
          lock, wait, [this] { return checkpoint_due_ || checkpointer_stopping_; });
      if (checkpointer_stopping_) return;
      due = checkpoint_due_;
      checkpoint_due_ = false;
    }
    const uint64_t commits = commits_.load(std::memory_order_relaxed);
    const bool active = commits != commits_seen;
    commits_seen = commits;
    if (active) tail_pending = true;
    if (restart_frames_ != 0 && wal_frames_.load(std::memory_order_relaxed) >= restart_frames_) {
      const bool ok = StartOver(CheckpointMode::kRestart);
      retry = ok ? milliseconds(0)
                 : std::min(milliseconds(1000), std::max(2 * retry, milliseconds(50)));
    } else {
      retry = milliseconds(0);
      if (due) {
        Checkpoint(CheckpointMode::kPassive);
      } else if (timed_out && !active && tail_pending && options_.wal_idle_checkpoint_ms != 0) {
        if (StartOver(CheckpointMode::kTruncate)) tail_pending = false;
      }
    }
    RefreshWalFileSize();
  }
}

// One fdatasync covers every batch committed before it started: while it runs the writer
// commits more, and the next round takes those. So the disk's latency is paid once per round,
// not once per batch, and never by the writer.
void BatchExecutor::SyncerLoop() {
  pthread_setname_np(pthread_self(), "store-sync");
  std::vector<Job> round;
  for (;;) {
    {
      std::unique_lock lock(sync_mutex_);
      sync_cv_.wait(lock, [this] { return !unsynced_.empty() || syncer_stopping_; });
      if (unsynced_.empty()) return;  // Stopping, and every batch has been completed.
      round.swap(unsynced_);
    }
    if (fdatasync(wal_fd_) != 0) {
      // The commits are in the WAL but may not be on disk: nothing of them may be acked.
      Status failed(Errc::kIo, std::string("fdatasync of the WAL failed: ") + std::strerror(errno));
      std::fprintf(stderr, "storage: %s\n", failed.message().c_str());
      for (Job& job : round) {
        if (job.status.ok()) job.status = failed;
      }
    }
    syncs_.fetch_add(1, std::memory_order_relaxed);
    Complete(round);
    round.clear();
  }
}

}  // namespace ringcast::storage
