#include "storage/sqlite_search_index.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "storage/migrations.h"
#include "storage/sqlite_db.h"
#include "tests/unit/storage/storage_test_util.h"

namespace ringcast::storage {
namespace {

using namespace std::chrono_literals;

// A chat.db at the latest schema, written directly (as the chat writer would), and the index
// built from it.
class SearchIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    Result<std::unique_ptr<SqliteDb>> chat = SqliteDb::Open({.path = dir_.File("chat.db")});
    ASSERT_TRUE(chat.ok()) << chat.status().ToString();
    chat_ = std::move(chat).value();
    ASSERT_TRUE(Migrate(*chat_).ok());
    ASSERT_TRUE(chat_
                    ->Exec(R"sql(
INSERT INTO users(id, username, password_hash, created_at) VALUES (1, 'a', 'h', 1);
INSERT INTO conversations(id, name, is_group, created_at) VALUES (1, 'g', 1, 1), (2, 'h', 1, 1);
)sql")
                    .ok());
  }

  SearchIndexOptions Options() {
    return {.path = dir_.File("search.db"),
            .chat_path = dir_.File("chat.db"),
            .interval_ms = 0,
            .fresh_wait_ms = 1000};
  }

  // Appends as the chat writer does: the next seq of `conv`, returning the message id.
  int64_t Append(int64_t conv, const std::string& body, const std::string& kind = "text",
                 int64_t target = 0) {
    auto insert = chat_->Prepare(
        "INSERT INTO messages(conversation_id, seq, sender_id, kind, body, sent_at, target) "
        "SELECT ?1, coalesce(max(seq), 0) + 1, 1, ?2, ?3, 1, nullif(?4, 0) FROM messages "
        "WHERE conversation_id = ?1 RETURNING id");
    insert->BindInt64(1, conv).BindText(2, kind).BindText(3, body).BindInt64(4, target);
    int64_t id = 0;
    while (insert->Step() == StepResult::kRow) id = insert->ColumnInt64(0);
    EXPECT_TRUE(insert->status().ok()) << insert->status().ToString();
    return id;
  }
  void Edit(int64_t conv, int64_t seq, const std::string& body) {
    auto update = chat_->Prepare(
        "UPDATE messages SET body = ?3, edited_at = 2 WHERE conversation_id = ?1 AND seq = ?2");
    ASSERT_TRUE(update->BindInt64(1, conv).BindInt64(2, seq).BindText(3, body).Exec().ok());
    Append(conv, body, "edit", seq);
  }
  void Delete(int64_t conv, int64_t seq) {
    auto update = chat_->Prepare(
        "UPDATE messages SET body = '', deleted_at = 2 WHERE conversation_id = ?1 AND seq = ?2");
    ASSERT_TRUE(update->BindInt64(1, conv).BindInt64(2, seq).Exec().ok());
    Append(conv, "", "delete", seq);
  }

  // The "conv:seq" keys in search.db that hold `word`, read through a connection of its own.
  std::string Matches(const std::string& word) {
    Result<std::unique_ptr<SqliteDb>> db =
        SqliteDb::Open({.path = dir_.File("search.db"), .read_only = true});
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    if (!db.ok()) return "?";
    auto rows = (*db)->Prepare(
        "SELECT rowid >> 32, rowid & 4294967295 FROM messages_fts WHERE messages_fts MATCH ?1 "
        "ORDER BY rowid");
    rows->BindText(1, word);
    std::string out;
    while (rows->Step() == StepResult::kRow) {
      if (!out.empty()) out += ' ';
      out += std::to_string(rows->ColumnInt64(0)) + ":" + std::to_string(rows->ColumnInt64(1));
    }
    EXPECT_TRUE(rows->status().ok()) << rows->status().ToString();
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<SqliteDb> chat_;
};

TEST_F(SearchIndexTest, AddsMessagesInTheirCurrentStateAndFollowsChanges) {
  Append(1, "kept apple");
  Append(2, "draft apple");
  Append(2, "doomed apple");
  Append(2, "apple reaction", "reaction", 1);  // Not an ordinary message: never indexed.
  Edit(2, 1, "final fig");                     // Changed before the index saw them.
  Delete(2, 2);
  auto index = SqliteSearchIndex::Open(Options());
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  ASSERT_TRUE((*index)->CatchUp().ok());
  EXPECT_EQ(Matches("apple"), "1:1");
  EXPECT_EQ(Matches("fig"), "2:1");
  EXPECT_EQ(Matches("draft"), "");

  // Changes to indexed messages: the edit replaces the body, the deletion takes it out.
  Edit(1, 1, "pear now");
  Append(1, "fresh plum");
  ASSERT_TRUE((*index)->CatchUp().ok());
  EXPECT_EQ(Matches("apple"), "");
  EXPECT_EQ(Matches("pear"), "1:1");
  EXPECT_EQ(Matches("plum"), "1:3");
  Delete(1, 1);
  Edit(2, 1, "fig again");  // Edited twice: indexed once.
  ASSERT_TRUE((*index)->CatchUp().ok());
  EXPECT_EQ(Matches("pear"), "");
  EXPECT_EQ(Matches("fig"), "2:1");
  EXPECT_EQ((*index)->stats().indexed_upto, *chat_->QueryInt64("SELECT max(id) FROM messages"));
}

TEST_F(SearchIndexTest, PassesAreBoundedAndTheWatermarkSurvivesARestart) {
  ASSERT_TRUE(chat_->Exec("BEGIN").ok());
  for (int i = 0; i < SqliteSearchIndex::kPassRows + 5; ++i)
    Append(1, "word" + std::to_string(i % 7));
  ASSERT_TRUE(chat_->Exec("COMMIT").ok());
  {
    auto index = SqliteSearchIndex::Open(Options());
    ASSERT_TRUE(index.ok());
    ASSERT_TRUE((*index)->CatchUp().ok());
    EXPECT_EQ((*index)->stats().passes, 2u);
  }
  Append(1, "after restart");
  auto index = SqliteSearchIndex::Open(Options());
  ASSERT_TRUE(index.ok());
  ASSERT_TRUE((*index)->CatchUp().ok());
  EXPECT_EQ((*index)->stats().passes, 1u);  // Only what came after.
  EXPECT_EQ(Matches("restart"), "1:" + std::to_string(SqliteSearchIndex::kPassRows + 6));
}

// search.db built from another chat.db (deleted and started again here) is emptied, never
// mixed with this one's messages.
TEST_F(SearchIndexTest, RebuildsWhenBuiltFromAnotherChatDatabase) {
  Append(1, "old secret");
  {
    auto index = SqliteSearchIndex::Open(Options());
    ASSERT_TRUE(index.ok());
    ASSERT_TRUE((*index)->CatchUp().ok());
  }
  EXPECT_EQ(Matches("secret"), "1:1");
  chat_.reset();
  for (const char* f : {"chat.db", "chat.db-wal", "chat.db-shm"})
    std::filesystem::remove(dir_.File(f));
  SetUp();
  // Another creation time, even within the same millisecond.
  ASSERT_TRUE(
      chat_->Exec("UPDATE meta SET value = value + 1 WHERE key = 'schema_v1_applied_at'").ok());
  Append(1, "new text");
  auto index = SqliteSearchIndex::Open(Options());
  ASSERT_TRUE(index.ok());
  ASSERT_TRUE((*index)->CatchUp().ok());
  EXPECT_EQ((*index)->stats().rebuilds, 1u);
  EXPECT_EQ(Matches("secret"), "");
  EXPECT_EQ(Matches("text"), "1:1");
}

// No search asks: an append is indexed by itself, --search-index-interval-ms after it.
TEST_F(SearchIndexTest, AnAppendIsIndexedAfterTheInterval) {
  auto options = Options();
  options.interval_ms = 50;
  auto index = SqliteSearchIndex::Open(options);
  ASSERT_TRUE(index.ok());
  ASSERT_TRUE((*index)->Start().ok());
  std::this_thread::sleep_for(100ms);  // The start's own pass (nothing to index) is over.
  const int64_t id = Append(1, "unasked");
  (*index)->NoteAppended(id);
  for (int i = 0; i < 300 && (*index)->stats().indexed_upto < id; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ((*index)->stats().indexed_upto, id);
  EXPECT_EQ(Matches("unasked"), "1:1");
  EXPECT_EQ((*index)->stats().waits, 0u);
}

TEST_F(SearchIndexTest, WaitersAreCalledOnceIndexedOrAfterTheWait) {
  auto options = Options();
  options.interval_ms = 60000;  // Only a waiting search starts a pass.
  options.fresh_wait_ms = 200;
  auto index = SqliteSearchIndex::Open(options);
  ASSERT_TRUE(index.ok());
  ASSERT_TRUE((*index)->Start().ok());
  const int64_t id = Append(1, "hello");
  std::atomic<bool> called{false};
  (*index)->WhenIndexed(id, [&] { called = true; });
  for (int i = 0; i < 200 && !called; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(called);
  EXPECT_EQ(Matches("hello"), "1:1");
  EXPECT_EQ((*index)->stats().stale_answers, 0u);
  // An id never committed: let go after fresh_wait_ms, counted as stale.
  std::atomic<bool> late{false};
  const auto start = std::chrono::steady_clock::now();
  (*index)->WhenIndexed(id + 100, [&] { late = true; });
  for (int i = 0; i < 300 && !late; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(late);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
  EXPECT_EQ((*index)->stats().stale_answers, 1u);
  // Stopped: at once.
  (*index)->Stop();
  bool now = false;
  (*index)->WhenIndexed(id + 100, [&] { now = true; });
  EXPECT_TRUE(now);
}

}  // namespace
}  // namespace ringcast::storage
