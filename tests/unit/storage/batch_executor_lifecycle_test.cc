#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "storage/batch_executor.h"
#include "storage/migrations.h"
#include "tests/unit/storage/executor_test_fixture.h"

namespace ringcast::storage {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using testing::Counter;
using testing::Gate;
using testing::Insert;

// Same fixture, its own suite: reads, shutdown, delay, back-pressure, start-up.
class BatchExecutorLifecycleTest : public testing::BatchExecutorTest {};

TEST_F(BatchExecutorLifecycleTest, ReadsProceedWhileTheWriterHoldsATransaction) {
  options_.readers = 2;
  StartExecutor();
  Counter blocker_done;
  StallWriter(/*k=*/99, &blocker_done);
  // The writer sits inside an open transaction with an uncommitted row: the read neither
  // waits for it nor sees the row.
  EXPECT_EQ(CountRows(), 0);
  ReleaseWriter();
  ASSERT_TRUE(blocker_done.WaitFor(1));
  EXPECT_EQ(CountRows(), 1);
  executor_->Stop();
}

TEST_F(BatchExecutorLifecycleTest, AReadSubmittedAfterAWriteCompletesSeesIt) {
  options_.readers = 3;
  StartExecutor();
  constexpr int kRounds = 100;
  std::atomic<int> stale{0};
  Counter reads;
  // Checks that row k is visible, from a reader connection.
  auto read_back = [&stale](int k) {
    return [&stale, k](SqliteDb& db) {
      auto q = db.Prepare("SELECT count(*) FROM kv WHERE k = ?1");
      q->BindInt64(1, k);
      if (q->Step() != StepResult::kRow) return q->status();
      if (q->ColumnInt64(0) != 1) stale.fetch_add(1);
      return Status();
    };
  };
  auto read_done = [&reads](Status s) {
    EXPECT_TRUE(s.ok()) << s.ToString();
    reads.Add();
  };
  for (int k = 0; k < kRounds; ++k) {
    auto write_done = [&, k](Status s) {
      EXPECT_TRUE(s.ok()) << s.ToString();
      // From the completion, as the engine would after posting the ack: Submit never blocks.
      EXPECT_EQ(executor_->SubmitRead(read_back(k), read_done), Admission::kQueued);
    };
    EXPECT_EQ(executor_->Submit([k](SqliteDb& db) { return Insert(db, k); }, write_done),
              Admission::kQueued);
  }
  ASSERT_TRUE(reads.WaitFor(kRounds));
  EXPECT_EQ(stale.load(), 0);
  EXPECT_EQ(executor_->stats().read_jobs, static_cast<uint64_t>(kRounds));
  executor_->Stop();
}

TEST_F(BatchExecutorLifecycleTest, ReadConnectionsCannotWrite) {
  StartExecutor();
  Status s = RunRead([](SqliteDb& db) { return Insert(db, 1); });
  EXPECT_EQ(s.errc(), Errc::kReadOnly) << s.ToString();
  EXPECT_EQ(executor_->stats().failed_read_jobs, 1u);
  executor_->Stop();
}

TEST_F(BatchExecutorLifecycleTest, StopDrainsEverythingAcceptedThenRefuses) {
  StartExecutor();
  StallWriter();
  constexpr int kJobs = 500;
  std::atomic<int> ok{0};
  Counter done;
  for (int k = 0; k < kJobs; ++k) {
    EXPECT_EQ(executor_->Submit([k](SqliteDb& db) { return Insert(db, k); },
                                [&](Status s) {
                                  if (s.ok()) ok.fetch_add(1);
                                  done.Add();
                                }),
              Admission::kQueued);
  }
  std::thread stopper([this] { executor_->Stop(); });
  // Stop() refuses new work at once, even before the queue has drained.
  Admission late = Admission::kQueued;
  for (int i = 0; i < 5000 && late == Admission::kQueued; ++i) {
    late = executor_->Submit([](SqliteDb& db) { return Insert(db, -1); }, nullptr);
    if (late == Admission::kQueued) std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(late, Admission::kStopped);
  EXPECT_EQ(executor_->SubmitRead([](SqliteDb&) { return Status(); }, nullptr),
            Admission::kStopped);
  ReleaseWriter();
  stopper.join();
  // Every completion ran before Stop() returned.
  EXPECT_EQ(done.count(), kJobs);
  EXPECT_EQ(ok.load(), kJobs);

  // The WAL was checkpointed and removed when the last connection closed.
  EXPECT_FALSE(std::filesystem::exists(options_.db.path + "-wal"));
  DbOptions reopen;
  reopen.path = options_.db.path;
  Result<std::unique_ptr<SqliteDb>> db = SqliteDb::Open(reopen);
  ASSERT_TRUE(db.ok());
  // Rows queued after Stop() began (k = -1) may have been accepted only before it.
  EXPECT_EQ(*(*db)->QueryInt64("SELECT count(*) FROM kv WHERE k >= 0"), kJobs);
}

TEST_F(BatchExecutorLifecycleTest, StopWithADrainLimitFailsWhatIsStillQueuedInOrder) {
  // A deep queue behind a stalled writer: Stop(limit) does not commit it all; the jobs not
  // started by the limit are answered kStopped (each exactly once, in submission order) and
  // leave nothing in the database.
  StartExecutor();
  Counter blocker_done;
  StallWriter(/*k=*/1000, &blocker_done);
  constexpr int kJobs = 300;
  std::vector<int> answered;  // Job index per `done`, in call order (one thread calls them).
  std::atomic<int> stopped{0};
  for (int k = 0; k < kJobs; ++k) {
    ASSERT_EQ(executor_->Submit([k](SqliteDb& db) { return Insert(db, k); },
                                [&, k](Status s) {
                                  answered.push_back(k);
                                  if (s.errc() == Errc::kStopped) stopped.fetch_add(1);
                                }),
              Admission::kQueued);
  }
  std::thread stopper([this] { executor_->Stop(milliseconds(0)); });
  // Once Stop() has begun (it refuses), the limit has passed before the writer looks again.
  auto until = steady_clock::now() + std::chrono::seconds(20);
  while (executor_->Submit([](SqliteDb&) { return Status(); }, nullptr) == Admission::kQueued &&
         steady_clock::now() < until) {
    std::this_thread::yield();
  }
  ReleaseWriter();
  stopper.join();
  EXPECT_EQ(blocker_done.count(), 1);  // The job in progress still commits.
  ASSERT_EQ(int(answered.size()), kJobs);
  for (int k = 0; k < kJobs; ++k) ASSERT_EQ(answered[k], k);
  EXPECT_EQ(stopped.load(), kJobs);
  DbOptions reopen;
  reopen.path = options_.db.path;
  Result<std::unique_ptr<SqliteDb>> db = SqliteDb::Open(reopen);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(*(*db)->QueryInt64("SELECT count(*) FROM kv"), 1);
}

TEST_F(BatchExecutorLifecycleTest, StopDoesNotWaitOutTheBatchDelay) {
  options_.batch_delay_us = 60'000'000;
  options_.batch_max = 1000;
  Result<std::unique_ptr<BatchExecutor>> started = BatchExecutor::Start(options_);
  ASSERT_TRUE(started.ok());
  executor_ = std::move(started).value();
  Counter done;
  EXPECT_EQ(executor_->Submit([](SqliteDb&) { return Status(); }, [&done](Status) { done.Add(); }),
            Admission::kQueued);
  const auto t0 = steady_clock::now();
  executor_->Stop();
  EXPECT_LT(steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_EQ(done.count(), 1);
}

TEST_F(BatchExecutorLifecycleTest, BatchDelayGathersATrickleAndAFullBatchGoesAtOnce) {
  options_.batch_delay_us = 200'000;
  options_.batch_max = 4;
  StartExecutor();  // Its table-creating job already waited out one delay.
  // A lone job waits for company for batch_delay_us.
  const auto t0 = steady_clock::now();
  ASSERT_TRUE(RunWrite([](SqliteDb& db) { return Insert(db, 0); }).ok());
  EXPECT_GE(steady_clock::now() - t0, milliseconds(200));
  // Three jobs submitted together commit together.
  Counter done;
  const uint64_t before = executor_->stats().batches;
  for (int k = 1; k <= 3; ++k) {
    EXPECT_EQ(executor_->Submit([k](SqliteDb& db) { return Insert(db, k); },
                                [&done](Status) { done.Add(); }),
              Admission::kQueued);
  }
  ASSERT_TRUE(done.WaitFor(3));
  EXPECT_EQ(executor_->stats().batches - before, 1u);
  executor_->Stop();

  // A full batch does not wait for the delay.
  options_.batch_delay_us = 60'000'000;
  executor_.reset();
  Result<std::unique_ptr<BatchExecutor>> started = BatchExecutor::Start(options_);
  ASSERT_TRUE(started.ok());
  executor_ = std::move(started).value();
  Counter full;
  const auto t1 = steady_clock::now();
  for (int k = 10; k < 14; ++k) {
    EXPECT_EQ(executor_->Submit([k](SqliteDb& db) { return Insert(db, k); },
                                [&full](Status) { full.Add(); }),
              Admission::kQueued);
  }
  ASSERT_TRUE(full.WaitFor(4, std::chrono::seconds(20)));
  EXPECT_LT(steady_clock::now() - t1, std::chrono::seconds(20));
  executor_->Stop();
}

TEST_F(BatchExecutorLifecycleTest, RefusesWritesPastTheQueueLimit) {
  options_.max_queued_writes = 2;
  StartExecutor();
  StallWriter();
  Counter done;
  auto job = [](SqliteDb&) { return Status(); };
  auto count = [&done](Status) { done.Add(); };
  EXPECT_EQ(executor_->Submit(job, count), Admission::kQueued);
  EXPECT_EQ(executor_->Submit(job, count), Admission::kQueued);
  EXPECT_EQ(executor_->Submit(job, count), Admission::kQueueFull);
  EXPECT_EQ(executor_->stats().rejected, 1u);
  ReleaseWriter();
  ASSERT_TRUE(done.WaitFor(2));
  executor_->Stop();
  EXPECT_EQ(done.count(), 2);  // The refused job's `done` never ran.
}

// --max-store-wait-ms (WaitBound): with the writer stalled, writes are admitted until the oldest
// queued one has waited past the limit, then refused at once; what was admitted still commits,
// and once the queue has drained (an idle store) writes are admitted again.
TEST_F(BatchExecutorLifecycleTest, RefusesWritesOnceTheOldestQueuedWaitedPastTheLimit) {
  options_.batch_max = 8;
  options_.max_wait_ms = 100;
  StartExecutor();
  StallWriter();
  Counter done;
  auto job = [](SqliteDb&) { return Status(); };
  auto ok = [&done](Status s) {
    EXPECT_TRUE(s.ok()) << s.ToString();
    done.Add();
  };
  for (int i = 0; i < 8; ++i) ASSERT_EQ(executor_->Submit(job, ok), Admission::kQueued);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_EQ(executor_->Submit(job, ok), Admission::kQueueFull);
  EXPECT_EQ(executor_->stats().refused_wait, 1u);
  EXPECT_EQ(executor_->stats().rejected, 1u);
  ReleaseWriter();
  ASSERT_TRUE(done.WaitFor(8));
  EXPECT_EQ(executor_->Submit(job, ok), Admission::kQueued);
  ASSERT_TRUE(done.WaitFor(9));
  executor_->Stop();
  EXPECT_EQ(done.count(), 9);
}

// The rate is measured while the writer is backlogged; then a burst is admitted up to the
// limit's worth of that rate, and the rest is refused before it is queued.
TEST_F(BatchExecutorLifecycleTest, AdmitsALimitsWorthOfTheBackloggedRate) {
  options_.batch_max = 16;
  options_.max_wait_ms = 2000;
  options_.commit_interval_us = 0;
  StartExecutor();
  EXPECT_EQ(executor_->stats().write_rate, 0);
  Counter done;
  auto job = [](SqliteDb& db) { return db.Exec("UPDATE kv SET v = 'w' WHERE k = 1"); };
  auto count = [&done](Status) { done.Add(); };
  {
    Gate entered;
    Gate release;
    BlockWriter(entered, release, -1, &done);
    for (int i = 0; i < 2000; ++i) ASSERT_EQ(executor_->Submit(job, count), Admission::kQueued);
    release.Open();
    ASSERT_TRUE(done.WaitFor(2001));
  }
  const double rate = executor_->stats().write_rate;
  ASSERT_GT(rate, 0) << "no backlog measured";
  Gate entered;
  Gate release;
  BlockWriter(entered, release, -1, &done);
  int admitted = 0;
  const auto began = std::chrono::steady_clock::now();
  while (admitted < 10000000 && executor_->Submit(job, count) == Admission::kQueued) ++admitted;
  const auto took = std::chrono::steady_clock::now() - began;
  release.Open();
  // Nothing measured the writer meanwhile (it was held): the count is the rate's 2 s (less the
  // headroom), unless submitting took so long that the oldest's age refused first.
  EXPECT_EQ(executor_->stats().refused_wait, 1u);
  if (took < std::chrono::milliseconds(1500)) {
    EXPECT_NEAR(admitted, rate * 2.0 * WaitBound::kHeadroom, rate * 0.02 + 2) << "rate " << rate;
  }
  ASSERT_TRUE(done.WaitFor(2002 + admitted));
  executor_->Stop();
}

TEST_F(BatchExecutorLifecycleTest, CompletionsMayChainFurtherSubmits) {
  StartExecutor();
  constexpr int kChain = 100;
  Counter finished;
  std::function<void(int)> step = [&](int k) {
    EXPECT_EQ(executor_->Submit([k](SqliteDb& db) { return Insert(db, k); },
                                [&, k](Status s) {
                                  EXPECT_TRUE(s.ok()) << s.ToString();
                                  if (k + 1 < kChain) {
                                    step(k + 1);
                                  } else {
                                    finished.Add();
                                  }
                                }),
              Admission::kQueued);
  };
  step(0);
  ASSERT_TRUE(finished.WaitFor(1));
  EXPECT_EQ(CountRows(), kChain);
  executor_->Stop();
}

TEST_F(BatchExecutorLifecycleTest, WriterUsesTheConfiguredSynchronousMode) {
  options_.db.synchronous = Synchronous::kNormal;
  StartExecutor();
  int64_t mode = -1;
  ASSERT_TRUE(RunWrite([&mode](SqliteDb& db) {
                Result<int64_t> m = db.QueryInt64("PRAGMA synchronous");
                if (m.ok()) mode = *m;
                return m.ok() ? Status() : m.status();
              }).ok());
  EXPECT_EQ(mode, 1);
  executor_->Stop();
}

TEST_F(BatchExecutorLifecycleTest, StartMigratesAndRefusesANewerSchema) {
  {
    Result<std::unique_ptr<BatchExecutor>> started = BatchExecutor::Start(options_);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
  }
  DbOptions plain;
  plain.path = options_.db.path;
  {
    Result<std::unique_ptr<SqliteDb>> db = SqliteDb::Open(plain);
    ASSERT_TRUE(db.ok());
    EXPECT_EQ(*(*db)->QueryInt64("PRAGMA user_version"), LatestSchemaVersion());
    ASSERT_TRUE(
        (*db)->Exec("PRAGMA user_version = " + std::to_string(LatestSchemaVersion() + 1)).ok());
  }
  Result<std::unique_ptr<BatchExecutor>> refused = BatchExecutor::Start(options_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().errc(), Errc::kSchemaTooNew) << refused.status().ToString();
}

TEST_F(BatchExecutorLifecycleTest, StartReportsAnUnusableDataDirectory) {
  options_.db.path = dir_.File("missing/dir/chat.db");
  Result<std::unique_ptr<BatchExecutor>> started = BatchExecutor::Start(options_);
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.status().errc(), Errc::kIo) << started.status().ToString();
}

TEST_F(BatchExecutorLifecycleTest, StopFromACompletionAbortsLoudly) {
  // "fast" (plain fork): no other thread exists when the child forks, and the child then uses
  // this process's temporary directory, which TearDown removes (a re-executed child would make
  // its own and, aborting, never remove it).
  GTEST_FLAG_SET(death_test_style, "fast");
  EXPECT_DEATH(
      {
        StartExecutor();
        EXPECT_EQ(executor_->Submit([](SqliteDb&) { return Status(); },
                                    [this](Status) { executor_->Stop(); }),
                  Admission::kQueued);
        std::this_thread::sleep_for(std::chrono::seconds(30));
      },
      "Stop\\(\\) called from its own thread");
}

}  // namespace
}  // namespace ringcast::storage
