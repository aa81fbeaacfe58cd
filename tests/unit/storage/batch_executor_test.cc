#include "storage/batch_executor.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/storage/executor_test_fixture.h"

namespace ringcast::storage {
namespace {

using testing::BatchExecutorTest;
using testing::Counter;
using testing::Gate;
using testing::Insert;

TEST_F(BatchExecutorTest, TenThousandJobsFromFourProducersCompleteOnceAndSurviveReopen) {
  StartExecutor();
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 2500;
  constexpr int kJobs = kProducers * kPerProducer;
  std::vector<std::atomic<int>> calls(kJobs);
  std::atomic<int> failures{0};
  Counter done;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        const int k = p * kPerProducer + i;
        Admission a = executor_->Submit([k](SqliteDb& db) { return Insert(db, k); },
                                        [&, k](Status s) {
                                          calls[k].fetch_add(1);
                                          if (!s.ok()) failures.fetch_add(1);
                                          done.Add();
                                        });
        EXPECT_EQ(a, Admission::kQueued);
      }
    });
  }
  for (std::thread& t : producers) t.join();
  ASSERT_TRUE(done.WaitFor(kJobs)) << done.count();
  ExecutorStats stats = executor_->stats();
  executor_->Stop();

  EXPECT_EQ(failures.load(), 0);
  for (int k = 0; k < kJobs; ++k) ASSERT_EQ(calls[k].load(), 1) << k;
  const uint64_t batches = stats.batches - baseline_.batches;
  EXPECT_EQ(stats.write_jobs - baseline_.write_jobs, static_cast<uint64_t>(kJobs));
  EXPECT_LE(stats.max_batch, options_.batch_max);
  EXPECT_LT(batches, static_cast<uint64_t>(kJobs) / 2) << "no group commit under load";
  RecordProperty("batches", std::to_string(batches));
  RecordProperty("max_batch", std::to_string(stats.max_batch));

  // Durable: a fresh connection after Stop sees every row exactly once.
  DbOptions reopen;
  reopen.path = options_.db.path;
  Result<std::unique_ptr<SqliteDb>> db = SqliteDb::Open(reopen);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  EXPECT_EQ(*(*db)->QueryInt64("SELECT count(*) FROM kv"), kJobs);
  EXPECT_EQ(*(*db)->QueryInt64("SELECT count(DISTINCT k) FROM kv"), kJobs);
  EXPECT_EQ(*(*db)->QueryInt64("SELECT sum(k) FROM kv"), int64_t{kJobs} * (kJobs - 1) / 2);
}

TEST_F(BatchExecutorTest, QueuedJobsAreCommittedInBatchesOfBatchMax) {
  options_.batch_max = 256;
  StartExecutor();
  StallWriter();
  Counter done;
  for (int k = 0; k < 1000; ++k) {
    ASSERT_EQ(SubmitExpectingOk([k](SqliteDb& db) { return Insert(db, k); }, done),
              Admission::kQueued);
  }
  EXPECT_EQ(executor_->stats().queued_writes, 1000u);
  ReleaseWriter();
  ASSERT_TRUE(done.WaitFor(1000));
  // The blocker's batch, then 256 + 256 + 256 + 232.
  EXPECT_EQ(BatchesSinceStart(), 5u);
  EXPECT_EQ(executor_->stats().max_batch, 256u);
  EXPECT_EQ(CountRows(), 1000);
  executor_->Stop();
}

// Commit pacing (--commit-interval-us): a stream of writes arriving one by one, each of which
// would otherwise be a commit of its own, joins a few paced commits; a write after a pause longer
// than the interval is not held back.
TEST_F(BatchExecutorTest, CommitPacingGathersAStreamAndHoldsNoIsolatedWrite) {
  options_.commit_interval_us = 300'000;
  StartExecutor();  // Its CREATE TABLE was a batch: the next may begin 0.3 s after it.
  Counter done;
  for (int k = 0; k < 20; ++k) {
    ASSERT_EQ(SubmitExpectingOk([k](SqliteDb& db) { return Insert(db, k); }, done),
              Admission::kQueued);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(done.WaitFor(20));
  EXPECT_LE(BatchesSinceStart(), 2u) << "one per write without pacing";

  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // A pause past the interval.
  const auto submitted = std::chrono::steady_clock::now();
  ASSERT_TRUE(RunWrite([](SqliteDb& db) { return Insert(db, 100); }).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - submitted, std::chrono::milliseconds(250))
      << "an isolated write waited for the pacing";
  EXPECT_EQ(CountRows(), 21);
  executor_->Stop();
}

TEST_F(BatchExecutorTest, AFailingJobFailsAloneAndItsNeighboursCommit) {
  StartExecutor();
  StallWriter();
  std::vector<Status> results(6);
  Counter done;
  auto record = Recorder(results, done);
  EXPECT_EQ(executor_->Submit([](SqliteDb& db) { return Insert(db, 1); }, record(0)),
            Admission::kQueued);
  EXPECT_EQ(executor_->Submit(
                [](SqliteDb& db) {
                  Status s = Insert(db, 2);  // Written, then undone with the rest of this job.
                  return s.ok() ? Insert(db, 1) : s;
                },
                record(1)),
            Admission::kQueued);
  EXPECT_EQ(executor_->Submit([](SqliteDb& db) { return Insert(db, 3); }, record(2)),
            Admission::kQueued);
  EXPECT_EQ(executor_->Submit(
                [](SqliteDb& db) {
                  (void)Insert(db, 4);
                  return Status(Errc::kJobFailed, "forbidden: not a member");
                },
                record(3)),
            Admission::kQueued);
  EXPECT_EQ(executor_->Submit(
                [](SqliteDb& db) -> Status {
                  (void)Insert(db, 5);
                  throw std::runtime_error("boom");
                },
                record(4)),
            Admission::kQueued);
  EXPECT_EQ(executor_->Submit([](SqliteDb& db) { return Insert(db, 6); }, record(5)),
            Admission::kQueued);
  ReleaseWriter();
  ASSERT_TRUE(done.WaitFor(6));

  EXPECT_TRUE(results[0].ok()) << results[0].ToString();
  EXPECT_EQ(results[1].errc(), Errc::kConstraint) << results[1].ToString();
  EXPECT_TRUE(results[2].ok()) << results[2].ToString();
  EXPECT_EQ(results[3].errc(), Errc::kJobFailed);
  EXPECT_EQ(results[3].message(), "forbidden: not a member");
  EXPECT_EQ(results[4].errc(), Errc::kJobFailed);
  EXPECT_NE(results[4].message().find("boom"), std::string::npos);
  EXPECT_TRUE(results[5].ok()) << results[5].ToString();
  EXPECT_EQ(BatchesSinceStart(), 2u);  // The blocker's, then all six in one transaction.
  EXPECT_EQ(executor_->stats().batch_retries, 0u);

  int64_t sum = 0;
  ASSERT_TRUE(RunRead([&sum](SqliteDb& db) {
                Result<int64_t> n = db.QueryInt64("SELECT sum(k) FROM kv");
                if (n.ok()) sum = *n;
                return n.ok() ? Status() : n.status();
              }).ok());
  EXPECT_EQ(sum, 1 + 3 + 6);
  EXPECT_EQ(executor_->stats().failed_write_jobs - baseline_.failed_write_jobs, 3u);
  executor_->Stop();
}

TEST_F(BatchExecutorTest, AJobThatAbortsTheTransactionIsDroppedAndTheBatchRetried) {
  StartExecutor();
  StallWriter();
  int first_runs = 0;  // Touched only by the writer thread until `done` has been counted.
  int last_runs = 0;
  std::vector<Status> results(3);
  Counter done;
  auto record = Recorder(results, done);
  // Inserts k, counting its runs on `runs`.
  auto counted_insert = [](int& runs, int k) {
    return [&runs, k](SqliteDb& db) {
      ++runs;
      return Insert(db, k);
    };
  };
  EXPECT_EQ(executor_->Submit(counted_insert(first_runs, 1), record(0)), Admission::kQueued);
  EXPECT_EQ(
      executor_->Submit(
          [](SqliteDb& db) {
            // An interrupted INSERT inside a transaction makes SQLite roll back the whole
            // transaction, like SQLITE_FULL or an I/O error would.
            sqlite3_progress_handler(
                db.raw(), 1, [](void*) { return 1; }, nullptr);
            Status s = db.Exec(
                "INSERT INTO kv(k, v) WITH RECURSIVE c(x) AS (SELECT 100 UNION ALL SELECT x + 1 "
                "FROM c WHERE x < 100000) SELECT x, 'x' FROM c");
            sqlite3_progress_handler(db.raw(), 0, nullptr, nullptr);
            return s;
          },
          record(1)),
      Admission::kQueued);
  EXPECT_EQ(executor_->Submit(counted_insert(last_runs, 3), record(2)), Admission::kQueued);
  ReleaseWriter();
  ASSERT_TRUE(done.WaitFor(3));

  EXPECT_TRUE(results[0].ok()) << results[0].ToString();
  EXPECT_FALSE(results[1].ok());
  EXPECT_EQ(results[1].backend_code(), SQLITE_INTERRUPT) << results[1].ToString();
  EXPECT_TRUE(results[2].ok()) << results[2].ToString();
  EXPECT_EQ(first_runs, 2);  // Its first run was rolled back with the transaction.
  EXPECT_EQ(last_runs, 1);   // Never reached in the first pass.
  EXPECT_EQ(executor_->stats().batch_retries, 1u);
  EXPECT_EQ(CountRows(), 2);
  executor_->Stop();
}

TEST_F(BatchExecutorTest, JobsCannotEndTheBatchTransaction) {
  StartExecutor();
  StallWriter(/*k=*/10);
  Status commit_attempt;
  Counter done;
  EXPECT_EQ(executor_->Submit(
                [&commit_attempt](SqliteDb& db) {
                  commit_attempt = db.Exec("COMMIT");
                  Status s = db.Rollback();
                  return s.ok() ? Insert(db, 11) : s;
                },
                [&done](Status s) {
                  EXPECT_EQ(s.errc(), Errc::kMisuse) << s.ToString();
                  done.Add();
                }),
            Admission::kQueued);
  EXPECT_EQ(SubmitExpectingOk([](SqliteDb& db) { return Insert(db, 12); }, done),
            Admission::kQueued);
  ReleaseWriter();
  ASSERT_TRUE(done.WaitFor(2));
  EXPECT_EQ(commit_attempt.errc(), Errc::kMisuse);
  EXPECT_EQ(CountRows(), 2);  // 10 (blocker) and 12.
  executor_->Stop();
}

TEST_F(BatchExecutorTest, CompletionsArriveInSubmissionOrder) {
  options_.batch_max = 64;
  StartExecutor();
  constexpr int kJobs = 1000;
  std::vector<int> order;  // Appended by the completing thread (writer or syncer) only.
  Counter done;
  for (int k = 0; k < kJobs; ++k) {
    // Every third job fails: failures are reported in their place too.
    EXPECT_EQ(executor_->Submit(
                  [k](SqliteDb& db) {
                    return k % 3 == 0 ? Status(Errc::kJobFailed, "no") : Insert(db, k);
                  },
                  [&, k](Status) {
                    order.push_back(k);
                    done.Add();
                  }),
              Admission::kQueued);
  }
  ASSERT_TRUE(done.WaitFor(kJobs));
  executor_->Stop();
  ASSERT_EQ(order.size(), static_cast<size_t>(kJobs));
  for (int k = 0; k < kJobs; ++k) ASSERT_EQ(order[k], k);
}

// With synchronous FULL the syncer makes batches durable: every completion comes after an
// fdatasync, one fdatasync may cover several batches, and the writer does none itself.
TEST_F(BatchExecutorTest, FullDurabilityIsOneSyncPerRoundOffTheWriter) {
  options_.batch_max = 16;
  StartExecutor();
  constexpr int kJobs = 2000;
  Counter done;
  std::atomic<uint64_t> syncs_seen_at_completion{~uint64_t{0}};
  for (int k = 0; k < kJobs; ++k) {
    ASSERT_EQ(
        executor_->Submit([k](SqliteDb& db) { return Insert(db, k); },
                          [&](Status s) {
                            EXPECT_TRUE(s.ok()) << s.ToString();
                            uint64_t syncs = executor_->stats().syncs;
                            uint64_t seen = syncs_seen_at_completion.load();
                            while (syncs < seen &&
                                   !syncs_seen_at_completion.compare_exchange_weak(seen, syncs)) {
                            }
                            done.Add();
                          }),
        Admission::kQueued);
  }
  ASSERT_TRUE(done.WaitFor(kJobs));
  ExecutorStats stats = executor_->stats();
  executor_->Stop();
  EXPECT_GE(syncs_seen_at_completion.load(), 1u) << "a completion came before any fdatasync";
  const uint64_t batches = stats.batches - baseline_.batches;
  EXPECT_GE(stats.syncs, 1u);
  EXPECT_LE(stats.syncs - baseline_.syncs, batches);
  RecordProperty("batches", std::to_string(batches));
  RecordProperty("syncs", std::to_string(stats.syncs - baseline_.syncs));
}

TEST_F(BatchExecutorTest, NormalDurabilityHasNoSyncer) {
  options_.db.synchronous = Synchronous::kNormal;
  StartExecutor();
  ASSERT_TRUE(RunWrite([](SqliteDb& db) { return Insert(db, 1); }).ok());
  EXPECT_EQ(executor_->stats().syncs, 0u);
}

// A reader that keeps an old snapshot stops the WAL from starting over, so it stays past the
// checkpoint threshold: the checkpointer must then be woken every quarter threshold, not after
// every commit (which ran a checkpoint, with its fsyncs, after nearly every batch).
TEST_F(BatchExecutorTest, APinnedWalWakesTheCheckpointerEveryQuarterThresholdNotEveryCommit) {
  options_.checkpoint_pages = 40;
  StartExecutor();
  DbOptions reader_options = options_.db;
  reader_options.read_only = true;
  Result<std::unique_ptr<SqliteDb>> reader = SqliteDb::Open(reader_options);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE((*reader)->Exec("BEGIN").ok());
  ASSERT_TRUE((*reader)->QueryInt64("SELECT count(*) FROM kv").ok());  // Holds the snapshot.
  constexpr int kCommits = 300;
  for (int k = 0; k < kCommits; ++k) {
    ASSERT_TRUE(RunWrite([k](SqliteDb& db) { return Insert(db, k); }).ok());
  }
  const uint64_t checkpoints = executor_->stats().checkpoints - baseline_.checkpoints;
  // Every commit here writes at least one frame: past the first 40, at most one wake-up per
  // 10 frames (and the checkpointer may merge wake-ups), against ~260 before.
  EXPECT_GE(checkpoints, 1u);
  EXPECT_LE(checkpoints, uint64_t{kCommits} / 10 + 2);
  ASSERT_TRUE((*reader)->Exec("COMMIT").ok());
}

uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// Polls `done` until it holds or `limit` has passed; its last answer.
bool Eventually(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

uint64_t Checkpoints(const ExecutorStats& stats, CheckpointMode mode, CheckpointResult result) {
  return stats.checkpoint_results[int(mode)][int(result)];
}

// A read-only connection inside a read transaction: its snapshot keeps the WAL from being
// started over until it commits.
std::unique_ptr<SqliteDb> PinWal(DbOptions options) {
  options.read_only = true;
  Result<std::unique_ptr<SqliteDb>> reader = SqliteDb::Open(options);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return nullptr;
  EXPECT_TRUE((*reader)->Exec("BEGIN").ok());
  EXPECT_TRUE((*reader)->QueryInt64("SELECT count(*) FROM kv").ok());  // Takes the snapshot.
  return std::move(*reader);
}

// Rows of ~2 KB, so that a few hundred commits write megabytes of WAL.
Status InsertWide(SqliteDb& db, int64_t k) {
  return db.Prepare("INSERT INTO kv(k, v) VALUES (?1, printf('%.2000c', 'w'))")
      ->BindInt64(1, k)
      .Exec();
}

// Issue 32: under steady writes PASSIVE checkpoints never caught up, so the WAL was never
// started over and grew for as long as the writes went on (and stayed so). Now it is started
// over at half the bound, and truncated once the writes pause.
TEST_F(BatchExecutorTest, SteadyWritesKeepTheWalUnderItsBoundAndAPauseEmptiesIt) {
  options_.wal_bound_bytes = 2 << 20;
  options_.wal_idle_checkpoint_ms = 200;
  StartExecutor();
  const std::string wal = options_.db.path + "-wal";
  uint64_t largest = 0;
  int64_t k = 1000000;
  // Until the WAL was written 5 times over (a second or two; longer under sanitizers).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (executor_->stats().wal_written_bytes < 5 * options_.wal_bound_bytes &&
         std::chrono::steady_clock::now() < until) {
    Counter done;
    for (int i = 0; i < 16; ++i, ++k) {
      ASSERT_EQ(SubmitExpectingOk([k](SqliteDb& db) { return InsertWide(db, k); }, done),
                Admission::kQueued);
    }
    ASSERT_TRUE(done.WaitFor(16));
    largest = std::max(largest, FileSize(wal));
  }
  ExecutorStats stats = executor_->stats();
  EXPECT_GT(stats.wal_written_bytes, 4u * options_.wal_bound_bytes) << "not enough load";
  EXPECT_GE(stats.wal_restarts, 3u);
  EXPECT_GE(stats.checkpoint_results[int(CheckpointMode::kRestart)][int(CheckpointResult::kOk)],
            1u);
  EXPECT_EQ(stats.wal_over_bound, 0u);
  EXPECT_LT(largest, options_.wal_bound_bytes);
  EXPECT_GT(executor_->writer_held_seconds().count(), 0u);
  RecordProperty("largest_wal", std::to_string(largest));
  const Histogram held = executor_->writer_held_seconds();
  RecordProperty("writer_held_mean_ms", std::to_string(held.sum() / held.count() * 1000));

  // The file is truncated inside the checkpoint call, a moment before it is counted.
  Eventually(
      [&] {
        return FileSize(wal) == 0 && Checkpoints(executor_->stats(), CheckpointMode::kTruncate,
                                                 CheckpointResult::kOk) >= 1;
      },
      std::chrono::seconds(3));
  EXPECT_EQ(FileSize(wal), 0u);
  stats = executor_->stats();
  EXPECT_GE(stats.checkpoint_results[int(CheckpointMode::kTruncate)][int(CheckpointResult::kOk)],
            1u);
  EXPECT_EQ(stats.wal_frames, 0u);
  // And writes after the truncation still work and are counted from the new start.
  ASSERT_TRUE(RunWrite([](SqliteDb& db) { return Insert(db, -5); }).ok());
  EXPECT_GT(executor_->stats().wal_frames, 0u);
}

// The WAL's counters and the checkpoints by mode and result, for a failure's message.
std::string Describe(const ExecutorStats& stats) {
  std::string out = "wal_frames " + std::to_string(stats.wal_frames) + ", backfilled " +
                    std::to_string(stats.wal_backfilled) + ", restarts " +
                    std::to_string(stats.wal_restarts) + ", checkpoints [ok busy error]:";
  for (int mode = 0; mode < 3; ++mode) {
    out += std::string(" ") + CheckpointModeName(CheckpointMode(mode));
    for (int result = 0; result < 3; ++result) {
      out += " " + std::to_string(stats.checkpoint_results[mode][result]);
    }
  }
  return out;
}

// A restart that succeeds after the last commit (here: once a reader that pinned the WAL lets
// go) empties the WAL but leaves the file its size, so the pause after it must still truncate
// it. (The checkpointer took a restart for a truncation, and such a WAL kept its size on disk
// until the next write: SteadyWritesKeepTheWal… failed so under load, when its last commits
// made a restart due.)
TEST_F(BatchExecutorTest, APauseAfterALateRestartStillTruncatesTheWal) {
  options_.wal_bound_bytes = 256 << 10;
  options_.wal_restart_wait_ms = 20;
  options_.wal_idle_checkpoint_ms = 100;
  StartExecutor();
  const std::string wal = options_.db.path + "-wal";
  constexpr std::chrono::seconds kLimit(30);
  auto count = [&](CheckpointMode mode, CheckpointResult result) {
    return Checkpoints(executor_->stats(), mode, result);
  };
  // First the migration's WAL goes (the pause after it), so that what follows is this test's.
  Eventually([&] { return count(CheckpointMode::kTruncate, CheckpointResult::kOk) > 0; }, kLimit);
  ASSERT_EQ(count(CheckpointMode::kTruncate, CheckpointResult::kOk), 1u)
      << Describe(executor_->stats());
  std::unique_ptr<SqliteDb> reader = PinWal(options_.db);
  ASSERT_NE(reader, nullptr);
  // Past the restart point (half the bound), which the pinned WAL cannot start over from.
  auto wal_bytes = [&] {
    const ExecutorStats stats = executor_->stats();
    return stats.wal_frames * (stats.page_size + 24);
  };
  for (int64_t k = 1; wal_bytes() < 3 * options_.wal_bound_bytes / 4; ++k) {
    ASSERT_TRUE(RunWrite([k](SqliteDb& db) { return InsertWide(db, k); }).ok());
  }
  ASSERT_TRUE(Eventually(
      [&] { return count(CheckpointMode::kRestart, CheckpointResult::kBusy) > 0; }, kLimit))
      << Describe(executor_->stats());
  ASSERT_TRUE(reader->Exec("COMMIT").ok());  // The next try succeeds: no write after it.
  auto truncated = [&] { return count(CheckpointMode::kTruncate, CheckpointResult::kOk) >= 2; };
  Eventually([&] { return FileSize(wal) == 0 && truncated(); }, kLimit);
  EXPECT_GE(count(CheckpointMode::kRestart, CheckpointResult::kOk), 1u);
  EXPECT_TRUE(truncated());
  EXPECT_EQ(FileSize(wal), 0u);
}

// A reader holding an old snapshot keeps every checkpoint from starting the WAL over: past the
// hard cap the writer refuses writes (kUnavailable) instead of filling the disk, and takes them
// again once the reader lets go.
TEST_F(BatchExecutorTest, APinnedWalPastTheHardCapRefusesWritesUntilReleased) {
  options_.wal_bound_bytes = 256 << 10;
  options_.wal_hard_cap_bytes = 512 << 10;
  options_.wal_restart_wait_ms = 20;
  StartExecutor();
  std::unique_ptr<SqliteDb> reader = PinWal(options_.db);
  ASSERT_NE(reader, nullptr);
  Status refused;
  int64_t k = 2000000;
  for (int i = 0; i < 2000 && refused.ok(); ++i, ++k) {
    refused = RunWrite([k](SqliteDb& db) { return InsertWide(db, k); });
  }
  EXPECT_EQ(refused.errc(), Errc::kUnavailable) << refused.ToString();
  const std::string wal = options_.db.path + "-wal";
  EXPECT_LT(FileSize(wal), options_.wal_hard_cap_bytes + (64 << 10));
  EXPECT_EQ(RunWrite([](SqliteDb& db) { return Insert(db, -1); }).errc(), Errc::kUnavailable);
  ExecutorStats stats = executor_->stats();
  EXPECT_GE(stats.wal_refused_writes, 2u);
  EXPECT_GE(stats.wal_over_bound, 1u);
  EXPECT_GE(stats.checkpoint_results[int(CheckpointMode::kRestart)][int(CheckpointResult::kBusy)],
            1u);

  ASSERT_TRUE(reader->Exec("COMMIT").ok());
  Status accepted(Errc::kUnavailable, "");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!accepted.ok() && std::chrono::steady_clock::now() < deadline) {
    accepted = RunWrite([](SqliteDb& db) { return Insert(db, -2); });
    if (!accepted.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(accepted.ok()) << accepted.ToString();
}

}  // namespace
}  // namespace ringcast::storage
