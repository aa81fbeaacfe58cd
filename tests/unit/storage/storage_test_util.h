// Helpers shared by the storage tests: a scratch directory under /tmp that is removed afterwards
// (tests/unit/support/temp_dir.h), and small blocking primitives with timeouts so a bug fails a
// test instead of hanging it.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "storage/sqlite_db.h"
#include "storage/store_types.h"
#include "tests/unit/support/temp_dir.h"

namespace ringcast::storage::testing {

using ringcast::testing::TempDir;

// A one-shot gate: Wait() blocks until Open(); WaitFor() gives up after a timeout.
class Gate {
 public:
  void Open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool WaitFor(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return open_; });
  }
  void Wait() { (void)WaitFor(std::chrono::minutes(5)); }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Counts completions; WaitFor(n) returns once at least n have arrived (false on timeout).
class Counter {
 public:
  void Add(int n = 1) {
    {
      std::lock_guard lock(mutex_);
      count_ += n;
    }
    cv_.notify_all();
  }
  bool WaitFor(int n, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return count_ >= n; });
  }
  int count() {
    std::lock_guard lock(mutex_);
    return count_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int count_ = 0;
};

// Opens (creating) a database for a test; null, with the test failed, when it cannot.
inline std::unique_ptr<SqliteDb> OpenTestDb(const DbOptions& options) {
  Result<std::unique_ptr<SqliteDb>> db = SqliteDb::Open(options);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(db).value() : nullptr;
}

// The one integer `sql` returns; -1, with the test failed, when the query fails.
inline int64_t QueryNumber(SqliteDb& db, const std::string& sql) {
  Result<int64_t> n = db.QueryInt64(sql);
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  return n.ok() ? *n : -1;
}

// A fresh database file `name` in a scratch directory, open in db_ once SetUp returns; a
// fixture that adds to SetUp calls this one under ASSERT_NO_FATAL_FAILURE.
class TestDbFixture : public ::testing::Test {
 protected:
  explicit TestDbFixture(std::string name = "chat.db") : name_(std::move(name)) {}
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    db_ = OpenTestDb({.path = dir_.File(name_)});
    ASSERT_TRUE(db_);
  }

  TempDir dir_;
  std::unique_ptr<SqliteDb> db_;

 private:
  std::string name_;
};

// Calls an async store operation and waits for its reply (the reply runs on a store thread).
template <typename T, typename Call>
Result<T> Await(Call call) {
  std::promise<Result<T>> promise;
  auto future = promise.get_future();
  call(Reply<T>([&promise](Result<T> result) { promise.set_value(std::move(result)); }));
  if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return Status(Errc::kInternal, "timed out");
  }
  return future.get();
}

}  // namespace ringcast::storage::testing
