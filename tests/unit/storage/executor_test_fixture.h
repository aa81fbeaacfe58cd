// The fixture shared by the BatchExecutor tests: an executor on a fresh file with a scratch
// table `kv(k INTEGER PRIMARY KEY, v TEXT)`, synchronous helpers, and a way to hold the writer
// inside a job so that what is submitted next queues up behind it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <utility>
#include <vector>

#include "storage/batch_executor.h"
#include "tests/unit/storage/storage_test_util.h"

namespace ringcast::storage::testing {

inline Status Insert(SqliteDb& db, int64_t k) {
  return db.Prepare("INSERT INTO kv(k, v) VALUES (?1, 'v')")->BindInt64(1, k).Exec();
}

// Every test Stop()s the executor before its locals die: `done` callbacks capture them.
class BatchExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    options_.db.path = dir_.File("chat.db");
  }
  void TearDown() override {
    ReleaseWriter();  // A test that failed while the writer was held must not hang its Stop.
    if (executor_ != nullptr) executor_->Stop();
  }

  void StartExecutor() {
    Result<std::unique_ptr<BatchExecutor>> started = BatchExecutor::Start(options_);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    executor_ = std::move(started).value();
    Status s = RunWrite([](SqliteDb& db) {
      return db.Exec("CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT NOT NULL) STRICT");
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
    baseline_ = executor_->stats();
  }

  Status Wait(std::future<Status>& future) {
    if (future.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      return Status(Errc::kInternal, "timed out");
    }
    return future.get();
  }
  Status RunWrite(JobFn run) {
    std::promise<Status> promise;
    std::future<Status> future = promise.get_future();
    Admission a = executor_->Submit(std::move(run), [&promise](Status s) { promise.set_value(s); });
    if (a != Admission::kQueued) return Status(Errc::kStopped, "not queued");
    return Wait(future);
  }
  Status RunRead(JobFn run) {
    std::promise<Status> promise;
    std::future<Status> future = promise.get_future();
    Admission a =
        executor_->SubmitRead(std::move(run), [&promise](Status s) { promise.set_value(s); });
    if (a != Admission::kQueued) return Status(Errc::kStopped, "not queued");
    return Wait(future);
  }
  int64_t CountRows() {
    int64_t count = -1;
    Status s = RunRead([&count](SqliteDb& db) {
      Result<int64_t> n = db.QueryInt64("SELECT count(*) FROM kv");
      if (!n.ok()) return n.status();
      count = *n;
      return Status();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return count;
  }
  // Occupies the writer thread until `release` opens (optionally writing `k` first, inside the
  // still-open transaction); returns once the writer is inside the job, so everything submitted
  // afterwards queues up behind it.
  void BlockWriter(Gate& entered, Gate& release, int64_t k = -1, Counter* done = nullptr) {
    Admission a = executor_->Submit(
        [&entered, &release, k](SqliteDb& db) {
          Status s = k >= 0 ? Insert(db, k) : Status();
          entered.Open();
          release.Wait();
          return s;
        },
        [done](Status) {
          if (done != nullptr) done->Add();
        });
    ASSERT_EQ(a, Admission::kQueued);
    ASSERT_TRUE(entered.WaitFor());
  }
  // BlockWriter on the fixture's own gates, for a test that holds the writer once: it goes on
  // at ReleaseWriter() (at the latest at TearDown).
  void StallWriter(int64_t k = -1, Counter* done = nullptr) {
    BlockWriter(stall_entered_, stall_release_, k, done);
  }
  void ReleaseWriter() { stall_release_.Open(); }
  // Queues the write `run`, whose completion expects success and counts itself on `done`.
  Admission SubmitExpectingOk(JobFn run, Counter& done) {
    return executor_->Submit(std::move(run), [&done](Status s) {
      EXPECT_TRUE(s.ok()) << s.ToString();
      done.Add();
    });
  }
  // record(i) is a job's `done` that keeps its Status in results[i] and counts it on `done`.
  static auto Recorder(std::vector<Status>& results, Counter& done) {
    return [&results, &done](size_t i) {
      return [&results, &done, i](Status s) {
        results[i] = std::move(s);
        done.Add();
      };
    };
  }
  uint64_t BatchesSinceStart() { return executor_->stats().batches - baseline_.batches; }

  Gate stall_entered_;
  Gate stall_release_;
  testing::TempDir dir_;
  ExecutorOptions options_;
  std::unique_ptr<BatchExecutor> executor_;
  ExecutorStats baseline_;
};

}  // namespace ringcast::storage::testing
