// Schema v1 (storage/SCHEMA.md): the constraints the chat service relies on are enforced by the
// database itself, and the indexes the hot queries need are the ones the planner picks.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "storage/migrations.h"
#include "storage/sqlite_db.h"
#include "tests/unit/storage/storage_test_util.h"

namespace ringcast::storage {
namespace {

class SchemaTest : public testing::TestDbFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(TestDbFixture::SetUp());
    Status s = Migrate(*db_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // Runs `sql` with `text` bound to ?1.
  Status ExecWithText(std::string_view sql, const std::string& text) {
    return db_->Prepare(sql)->BindText(1, text).Exec();
  }
  Status AddUser(const std::string& name) {
    return ExecWithText(
        "INSERT INTO users(username, password_hash, created_at) VALUES (?1, 'scrypt$...', 1)",
        name);
  }
  int64_t UserId(const std::string& name) {
    auto q = db_->Prepare("SELECT id FROM users WHERE username = ?1");
    q->BindText(1, name);
    return q->Step() == StepResult::kRow ? q->ColumnInt64(0) : -1;
  }
  Status AddDirect(int64_t a, int64_t b) {
    const std::string key = std::to_string(std::min(a, b)) + ":" + std::to_string(std::max(a, b));
    return ExecWithText(
        "INSERT INTO conversations(is_group, created_at, direct_key) VALUES (0, 1, ?1)", key);
  }
  Status AddGroup(const std::string& name) {
    return ExecWithText("INSERT INTO conversations(name, is_group, created_at) VALUES (?1, 1, 1)",
                        name);
  }
  Status AddMessage(int64_t conv, int64_t seq, int64_t sender, const char* cid) {
    auto insert = db_->Prepare(
        "INSERT INTO messages(conversation_id, seq, sender_id, kind, body, sent_at, client_msg_id)"
        " VALUES (?1, ?2, ?3, 'text', 'hi', 1, ?4)");
    insert->BindInt64(1, conv).BindInt64(2, seq).BindInt64(3, sender);
    if (cid != nullptr) insert->BindText(4, cid);
    return insert->Exec();
  }
  int64_t Query(const std::string& sql) { return testing::QueryNumber(*db_, sql); }
  std::string Plan(const std::string& sql) {
    std::string plan;
    auto q = db_->Prepare("EXPLAIN QUERY PLAN " + sql);
    while (q->Step() == StepResult::kRow) plan += std::string(q->ColumnText(3)) + "\n";
    return plan;
  }
};

TEST_F(SchemaTest, UsernamesAreUniqueIgnoringAsciiCase) {
  ASSERT_TRUE(AddUser("alice").ok());
  Status dup = AddUser("alice");
  EXPECT_EQ(dup.errc(), Errc::kConstraint);
  EXPECT_NE(dup.message().find("users.username"), std::string::npos) << dup.ToString();
  EXPECT_EQ(AddUser("ALICE").errc(), Errc::kConstraint);
  EXPECT_TRUE(AddUser("bob").ok());
  EXPECT_EQ(UserId("Alice"), UserId("alice"));  // Login lookups fold case the same way.
}

TEST_F(SchemaTest, DirectConversationBetweenTwoUsersIsUnique) {
  ASSERT_TRUE(AddUser("a").ok());
  ASSERT_TRUE(AddUser("b").ok());
  ASSERT_TRUE(AddDirect(UserId("a"), UserId("b")).ok());
  Status dup = AddDirect(UserId("b"), UserId("a"));  // Same pair, either order.
  EXPECT_EQ(dup.errc(), Errc::kConstraint);
  EXPECT_NE(dup.message().find("conversations.direct_key"), std::string::npos) << dup.ToString();
  // Groups have no direct_key; NULLs never collide.
  EXPECT_TRUE(AddGroup("one").ok());
  EXPECT_TRUE(AddGroup("one").ok());
  // A 1:1 must have a key and a group must not.
  EXPECT_EQ(db_->Exec("INSERT INTO conversations(is_group, created_at) VALUES (0, 1)").errc(),
            Errc::kConstraint);
  EXPECT_EQ(db_->Exec("INSERT INTO conversations(is_group, created_at, direct_key) "
                      "VALUES (1, 1, '7:8')")
                .errc(),
            Errc::kConstraint);
}

TEST_F(SchemaTest, MessageSeqIsUniqueGapFreeAndAdvancesLastSeq) {
  ASSERT_TRUE(AddUser("a").ok());
  ASSERT_TRUE(AddGroup("g").ok());
  const int64_t a = UserId("a");
  ASSERT_TRUE(AddMessage(1, 1, a, "c1").ok());
  EXPECT_EQ(Query("SELECT last_seq FROM conversations WHERE id = 1"), 1);
  EXPECT_EQ(AddMessage(1, 1, a, "c2").errc(), Errc::kConstraint);  // (conversation, seq) taken.
  Status gap = AddMessage(1, 3, a, "c3");
  EXPECT_EQ(gap.errc(), Errc::kConstraint);
  EXPECT_NE(gap.message().find("last_seq + 1"), std::string::npos) << gap.ToString();
  EXPECT_EQ(Query("SELECT last_seq FROM conversations WHERE id = 1"), 1);
  EXPECT_EQ(Query("SELECT count(*) FROM messages"), 1);

  // The writer can assign the next seq in the insert itself and read it back.
  auto insert = db_->Prepare(
      "INSERT INTO messages(conversation_id, seq, sender_id, body, sent_at, client_msg_id) "
      "SELECT id, last_seq + 1, ?2, 'x', 1, ?3 FROM conversations WHERE id = ?1 "
      "RETURNING id, seq");
  insert->BindInt64(1, 1).BindInt64(2, a).BindText(3, "c4");
  ASSERT_EQ(insert->Step(), StepResult::kRow) << insert->status().ToString();
  EXPECT_EQ(insert->ColumnInt64(1), 2);
  EXPECT_EQ(insert->Step(), StepResult::kDone);
  EXPECT_EQ(Query("SELECT last_seq FROM conversations WHERE id = 1"), 2);

  // Position is immutable once written.
  EXPECT_EQ(db_->Exec("UPDATE messages SET seq = 9 WHERE seq = 2").errc(), Errc::kConstraint);
  EXPECT_TRUE(db_->Exec("UPDATE messages SET delivered_at = 5 WHERE seq = 2").ok());
}

TEST_F(SchemaTest, ClientMessageIdIsUniquePerSender) {
  ASSERT_TRUE(AddUser("a").ok());
  ASSERT_TRUE(AddUser("b").ok());
  ASSERT_TRUE(AddGroup("g").ok());
  const int64_t a = UserId("a");
  const int64_t b = UserId("b");
  // Version 8: the pairs live in message_cids (SqliteChatStore looks there, and in its recent
  // ones, before it inserts), so messages itself takes what it is given.
  auto add_cid = [&](int64_t sender, const char* cid, int64_t id) {
    return db_->Exec("INSERT INTO message_cids(sender_id, client_msg_id, message_id) VALUES (" +
                     std::to_string(sender) + ", '" + cid + "', " + std::to_string(id) + ")");
  };
  ASSERT_TRUE(AddMessage(1, 1, a, "same").ok());
  ASSERT_TRUE(add_cid(a, "same", 1).ok());
  Status dup = add_cid(a, "same", 2);
  EXPECT_EQ(dup.errc(), Errc::kConstraint);
  EXPECT_NE(dup.message().find("message_cids.sender_id, message_cids.client_msg_id"),
            std::string::npos)
      << dup.ToString();
  EXPECT_TRUE(add_cid(b, "same", 2).ok());         // Another sender may reuse it.
  EXPECT_TRUE(AddMessage(1, 2, a, nullptr).ok());  // Without a cid: no idempotency, no clash.
  EXPECT_TRUE(AddMessage(1, 3, a, nullptr).ok());
}

TEST_F(SchemaTest, ForeignKeysAndCascadesAreEnforced) {
  ASSERT_TRUE(AddUser("a").ok());
  ASSERT_TRUE(AddGroup("g").ok());
  const int64_t a = UserId("a");
  EXPECT_EQ(AddMessage(42, 1, a, nullptr).errc(), Errc::kConstraint);   // No such conversation.
  EXPECT_EQ(AddMessage(1, 1, 999, nullptr).errc(), Errc::kConstraint);  // No such sender.
  EXPECT_EQ(db_->Exec("INSERT INTO users_conversations(conversation_id, user_id, joined_at) "
                      "VALUES (1, 999, 1)")
                .errc(),
            Errc::kConstraint);
  ASSERT_TRUE(db_->Exec("INSERT INTO users_conversations(conversation_id, user_id, joined_at) "
                        "VALUES (1, " +
                        std::to_string(a) + ", 1)")
                  .ok());
  EXPECT_EQ(db_->Exec("INSERT INTO users_conversations(conversation_id, user_id, joined_at) "
                      "VALUES (1, " +
                      std::to_string(a) + ", 2)")
                .errc(),
            Errc::kConstraint);  // Membership is a set.
  ASSERT_TRUE(AddMessage(1, 1, a, nullptr).ok());
  ASSERT_TRUE(db_->Exec("DELETE FROM conversations WHERE id = 1").ok());
  EXPECT_EQ(Query("SELECT count(*) FROM users_conversations"), 0);
  EXPECT_EQ(Query("SELECT count(*) FROM messages"), 0);
}

TEST_F(SchemaTest, TablesAreStrictlyTyped) {
  EXPECT_EQ(db_->Exec("INSERT INTO users(username, password_hash, created_at) "
                      "VALUES ('a', 'h', 'yesterday')")
                .errc(),
            Errc::kConstraint);
}

TEST_F(SchemaTest, RevokedTokensAreKeyedByJti) {
  ASSERT_TRUE(db_->Exec("INSERT INTO revoked_tokens VALUES ('j1', 100)").ok());
  EXPECT_EQ(db_->Exec("INSERT INTO revoked_tokens VALUES ('j1', 200)").errc(), Errc::kConstraint);
  EXPECT_TRUE(db_->Exec("INSERT OR IGNORE INTO revoked_tokens VALUES ('j1', 200)").ok());
}

TEST_F(SchemaTest, HotQueriesUseTheirIndexes) {
  EXPECT_NE(Plan("SELECT conversation_id FROM users_conversations WHERE user_id = 1")
                .find("users_conversations_by_user"),
            std::string::npos);
  const std::string history = Plan(
      "SELECT * FROM messages WHERE conversation_id = 1 AND seq < 100 ORDER BY seq DESC "
      "LIMIT 50");
  EXPECT_NE(history.find("sqlite_autoindex_messages_1"), std::string::npos) << history;
  EXPECT_EQ(history.find("TEMP B-TREE"), std::string::npos) << history;  // No sort step.
  EXPECT_NE(Plan("SELECT message_id FROM message_cids WHERE sender_id = 1 AND client_msg_id = 'c'")
                .find("PRIMARY KEY (sender_id=? AND client_msg_id=?)"),
            std::string::npos);
  EXPECT_NE(
      Plan("DELETE FROM revoked_tokens WHERE expires_at < 5").find("revoked_tokens_by_expiry"),
      std::string::npos);
  // User search (SqliteChatStore::SearchUsers): a range of the NOCASE unique index, in order.
  const std::string search = Plan(
      "SELECT id, username FROM users WHERE username >= 'al' AND username < 'am' "
      "ORDER BY username LIMIT 20");
  EXPECT_NE(search.find("sqlite_autoindex_users_1 (username>? AND username<?)"), std::string::npos)
      << search;
  EXPECT_EQ(search.find("TEMP B-TREE"), std::string::npos) << search;
}

}  // namespace
}  // namespace ringcast::storage
