// The fixture of the SqliteChatStore tests (sqlite_chat_store_test.cc, sqlite_push_store_test.cc):
// a store over a scratch database, with alice, bob and carol registered.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "storage/sqlite_chat_store.h"
#include "tests/unit/storage/storage_test_util.h"

namespace ringcast::storage::testing {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    options_.db.path = dir_.File("chat.db");
    Open();
    alice_ = User("alice");
    bob_ = User("bob");
    carol_ = User("carol");
  }
  // Again on the same database (with another recent_cids_, say): the old store is dropped.
  void Open() {
    auto store = SqliteChatStore::Open(options_, recent_cids_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }
  int64_t User(const std::string& name) {
    auto r = Await<std::pair<Denial, int64_t>>(
        [&](auto reply) { store_->CreateUser(name, "hash", 1, std::move(reply)); });
    EXPECT_TRUE(r.ok() && r->first == Denial::kNone);
    return r.ok() ? r->second : 0;
  }

  TempDir dir_;
  ExecutorOptions options_;
  uint32_t recent_cids_ = SqliteChatStore::kDefaultRecentCids;
  std::unique_ptr<SqliteChatStore> store_;
  int64_t alice_ = 0, bob_ = 0, carol_ = 0;
};

}  // namespace ringcast::storage::testing
