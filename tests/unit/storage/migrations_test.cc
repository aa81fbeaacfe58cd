#include "storage/migrations.h"

#include <gtest/gtest.h>

#include <string>

#include "storage/sqlite_chat_store.h"
#include "tests/unit/storage/storage_test_util.h"

namespace ringcast::storage {
namespace {

// A user row that every schema version takes, for a migration to carry.
constexpr char kOneUser[] =
    "INSERT INTO users(id, username, password_hash, created_at) VALUES (1, 'a', 'h', 1)";

// An upload row (version 5 on), for the upload migrations to carry.
constexpr char kOneUpload[] =
    "INSERT INTO uploads(id, owner_id, name, size, type, sha256, created_at) "
    "VALUES ('AAAAAAAAAAAAAAAAAAAAAA', 1, 'f', 3, 'text/plain', 'ab', 1)";

class MigrationsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(dir_.ok()); }

  std::unique_ptr<SqliteDb> OpenDb() { return testing::OpenTestDb({.path = dir_.File("chat.db")}); }

  // A database written at `version` (the first migrations only), then `sql` run on it: the
  // rows a later migration must carry; then, unless `upgrade_to` is 0, the migrations up to that
  // version. Null, with the test failed, when any step fails.
  std::unique_ptr<SqliteDb> OpenAt(size_t version, const std::string& sql, size_t upgrade_to = 0) {
    auto db = OpenDb();
    if (!db) return nullptr;
    Status s = Migrate(*db, SchemaMigrations().first(version));
    if (s.ok()) s = db->Exec(sql);
    if (s.ok() && upgrade_to > 0) s = Migrate(*db, SchemaMigrations().first(upgrade_to));
    EXPECT_TRUE(s.ok()) << s.ToString();
    return s.ok() ? std::move(db) : nullptr;
  }

  // What an upgrade from version `from` (up to `to`, the latest by default) makes of `sql`'s rows.
  std::unique_ptr<SqliteDb> Upgrade(size_t from, const std::string& sql,
                                    size_t to = SchemaMigrations().size()) {
    return OpenAt(from, sql, to);
  }

  // The built-in migrations up to version `to` (all of them by default) run on `db`; a failure
  // carries the status.
  static ::testing::AssertionResult Migrated(SqliteDb& db, size_t to = SchemaMigrations().size()) {
    Status s = Migrate(db, SchemaMigrations().first(to));
    if (s.ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << s.ToString();
  }

  static int64_t UserVersion(SqliteDb& db) { return Count(db, "PRAGMA user_version"); }

  static int64_t Count(SqliteDb& db, const std::string& sql) {
    return testing::QueryNumber(db, sql);
  }

  static bool HasTable(SqliteDb& db, const std::string& name) {
    return Count(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '" + name +
                         "'") == 1;
  }

  testing::TempDir dir_;
};

TEST_F(MigrationsTest, MigratesAnEmptyDatabaseToTheLatestVersion) {
  auto db = OpenDb();
  ASSERT_TRUE(Migrated(*db));
  EXPECT_EQ(UserVersion(*db), LatestSchemaVersion());
  EXPECT_EQ(*db->QueryInt64("PRAGMA application_id"), kApplicationId);
  for (const char* table :
       {"meta", "users", "conversations", "users_conversations", "messages", "revoked_tokens"}) {
    EXPECT_TRUE(HasTable(*db, table)) << table;
  }
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM meta WHERE key = 'schema_v1_applied_at'"), 1);
  EXPECT_FALSE(db->InTransaction());
  // The schema passes SQLite's own consistency checks, foreign keys included.
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
  auto check = db->Prepare("PRAGMA integrity_check");
  ASSERT_EQ(check->Step(), StepResult::kRow);
  EXPECT_EQ(check->ColumnText(0), "ok");
}

TEST_F(MigrationsTest, ReopeningIsIdempotentAndKeepsData) {
  {
    auto db = OpenDb();
    ASSERT_TRUE(Migrate(*db).ok());
    ASSERT_TRUE(db->Exec("INSERT INTO users(username, password_hash, created_at) "
                         "VALUES ('alice', 'h', 1)")
                    .ok());
  }
  for (int i = 0; i < 2; ++i) {
    auto db = OpenDb();
    ASSERT_TRUE(Migrated(*db));
    EXPECT_EQ(UserVersion(*db), LatestSchemaVersion());
    EXPECT_EQ(Count(*db, "SELECT count(*) FROM users WHERE username = 'alice'"), 1);
    // One row per version applied: none ran again.
    EXPECT_EQ(Count(*db, "SELECT count(*) FROM meta WHERE key LIKE 'schema_v%_applied_at'"),
              LatestSchemaVersion());
  }
}

// Version 8 rebuilds messages (to drop its cid index): the rows that name a message (mentions,
// attachments) must survive the old table's DROP, which with foreign keys on would cascade.
TEST_F(MigrationsTest, Version8KeepsMessagesAndWhatNamesThemAndIndexesTheirCids) {
  auto db = Upgrade(7, R"sql(
INSERT INTO users(id, username, password_hash, created_at) VALUES (1, 'a', 'h', 1), (2, 'b', 'h', 1);
INSERT INTO conversations(id, name, is_group, created_at) VALUES (1, 'g', 1, 1);
INSERT INTO users_conversations(conversation_id, user_id, joined_at) VALUES (1, 1, 1), (1, 2, 1);
INSERT INTO messages(conversation_id, seq, sender_id, body, sent_at, client_msg_id)
VALUES (1, 1, 1, 'hi @b', 2, 'c1'), (1, 2, 2, 'yo', 3, 'c1'), (1, 3, 1, 'no cid', 4, NULL);
INSERT INTO mentions(user_id, message_id, conversation_id, seq) VALUES (2, 1, 1, 1);
INSERT INTO uploads(id, owner_id, name, size, type, sha256, created_at)
VALUES ('u1', 1, 'f.txt', 1, 'text/plain', 'x', 1);
INSERT INTO message_attachments(message_id, position, upload_id, conversation_id)
VALUES (2, 0, 'u1', 1);
)sql");
  ASSERT_TRUE(db);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM messages"), 3);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM mentions"), 1);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM message_attachments"), 1);
  EXPECT_EQ(Count(*db,
                  "SELECT message_id FROM message_cids WHERE sender_id = 2 AND "
                  "client_msg_id = 'c1'"),
            2);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM message_cids"), 2);  // NULL cids are not indexed.
  EXPECT_EQ(Count(*db, "SELECT value FROM meta WHERE key = 'cids_merged_below'"), 4);
  // Version 8's own four (version 13 adds the search index's).
  EXPECT_EQ(Count(*db,
                  "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND "
                  "tbl_name = 'messages' AND name NOT LIKE 'messages_fts_%'"),
            4);
  EXPECT_EQ(Count(*db, "PRAGMA foreign_keys"), 1);  // Back on after the migration.
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
  // The triggers came back: seq stays gap-free and the sender's read mark moves.
  EXPECT_EQ(db->Exec("INSERT INTO messages(conversation_id, seq, sender_id, body, sent_at) "
                     "VALUES (1, 5, 1, 'gap', 5)")
                .errc(),
            Errc::kConstraint);
  ASSERT_TRUE(db->Exec("INSERT INTO messages(conversation_id, seq, sender_id, body, sent_at) "
                       "VALUES (1, 4, 2, 'next', 5)")
                  .ok());
  EXPECT_EQ(Count(*db, "SELECT read_seq FROM users_conversations WHERE user_id = 2"), 4);
}

TEST_F(MigrationsTest, RefusesADatabaseFromANewerBinaryAndLeavesItUntouched) {
  {
    auto db = OpenDb();
    ASSERT_TRUE(Migrate(*db).ok());
    ASSERT_TRUE(
        db->Exec("PRAGMA user_version = " + std::to_string(LatestSchemaVersion() + 1)).ok());
  }
  auto db = OpenDb();
  Status s = Migrate(*db);
  EXPECT_EQ(s.errc(), Errc::kSchemaTooNew);
  const std::string newer = std::to_string(LatestSchemaVersion() + 1);
  const std::string known = std::to_string(LatestSchemaVersion());
  EXPECT_NE(s.message().find("schema version " + newer), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("only up to " + known), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(db->options().path), std::string::npos) << s.message();
  EXPECT_FALSE(db->InTransaction());
  EXPECT_EQ(UserVersion(*db), LatestSchemaVersion() + 1);
}

TEST_F(MigrationsTest, RefusesAFileWithTablesButNoVersion) {
  auto db = OpenDb();
  ASSERT_TRUE(db->Exec("CREATE TABLE something_else(x INTEGER)").ok());
  Status s = Migrate(*db);
  EXPECT_EQ(s.errc(), Errc::kSchemaForeign) << s.ToString();
  EXPECT_FALSE(HasTable(*db, "users"));
  EXPECT_EQ(UserVersion(*db), 0);
}

TEST_F(MigrationsTest, RefusesAnotherApplicationsDatabase) {
  auto db = OpenDb();
  ASSERT_TRUE(db->Exec("PRAGMA application_id = 1234").ok());
  EXPECT_EQ(Migrate(*db).errc(), Errc::kSchemaForeign);
  ASSERT_TRUE(db->Exec("PRAGMA application_id = 0; PRAGMA user_version = 1").ok());
  EXPECT_EQ(Migrate(*db).errc(), Errc::kSchemaForeign);  // A version, but not stamped as ours.
}

TEST_F(MigrationsTest, AppliesOnlyThePendingVersionsInOrder) {
  const Migration v1[] = {{1, "a", "CREATE TABLE a(x INTEGER); INSERT INTO a VALUES (1);"}};
  const Migration v2[] = {
      {1, "a", "CREATE TABLE a(x INTEGER); INSERT INTO a VALUES (1);"},
      {2, "b", "CREATE TABLE b(y INTEGER); INSERT INTO a VALUES (2);"},
      {3, "c", "INSERT INTO b SELECT sum(x) FROM a;"},  // Sees what version 2 did.
  };
  auto db = OpenDb();
  ASSERT_TRUE(Migrate(*db, v1).ok());
  EXPECT_EQ(UserVersion(*db), 1);
  Status s = Migrate(*db, v2);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(UserVersion(*db), 3);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM a"), 2);  // Version 1 did not run twice.
  EXPECT_EQ(Count(*db, "SELECT y FROM b"), 3);
}

TEST_F(MigrationsTest, AFailingMigrationRollsBackEveryPendingVersion) {
  const Migration list[] = {
      {1, "a", "CREATE TABLE a(x INTEGER);"},
      {2, "broken", "CREATE TABLE b(y INTEGER); INSERT INTO nowhere VALUES (1);"},
  };
  auto db = OpenDb();
  Status s = Migrate(*db, list);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("schema version 2 (broken)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("nowhere"), std::string::npos) << s.message();
  EXPECT_FALSE(db->InTransaction());
  EXPECT_EQ(UserVersion(*db), 0);
  EXPECT_FALSE(HasTable(*db, "a"));
  EXPECT_FALSE(HasTable(*db, "b"));
}

TEST_F(MigrationsTest, RejectsAListWithGaps) {
  const Migration list[] = {{1, "a", "SELECT 1;"}, {3, "c", "SELECT 1;"}};
  auto db = OpenDb();
  EXPECT_EQ(Migrate(*db, list).errc(), Errc::kMisuse);
  EXPECT_EQ(UserVersion(*db), 0);
}

// Version 2 on a database written at version 1: each member's read watermark catches up with
// its newest own message, and from then on sending moves it.
// Version 12: an existing group's earliest member (lowest id among the first to join) becomes
// its owner; everyone else, and both members of a 1:1, are members.
TEST_F(MigrationsTest, Version12MakesEachGroupsEarliestMemberItsOwner) {
  auto db = Upgrade(11, R"sql(
    INSERT INTO users(id, username, password_hash, created_at)
    VALUES (1, 'a', 'h', 1), (2, 'b', 'h', 1), (3, 'c', 'h', 1);
    INSERT INTO conversations(id, name, is_group, created_at, direct_key)
    VALUES (7, 'g', 1, 1, NULL), (8, 'h', 1, 1, NULL), (9, NULL, 0, 1, '1:2');
    INSERT INTO users_conversations(conversation_id, user_id, joined_at)
    VALUES (7, 3, 5), (7, 2, 5), (7, 1, 9), (8, 3, 1), (8, 1, 2), (9, 1, 1), (9, 2, 1);
  )sql");
  ASSERT_TRUE(db);
  EXPECT_EQ(Count(*db,
                  "SELECT user_id FROM users_conversations WHERE conversation_id = 7 "
                  "AND role = 'owner'"),
            2);
  EXPECT_EQ(Count(*db,
                  "SELECT user_id FROM users_conversations WHERE conversation_id = 8 "
                  "AND role = 'owner'"),
            3);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM users_conversations WHERE role = 'owner'"), 2);
  EXPECT_EQ(Count(*db,
                  "SELECT count(*) FROM users_conversations WHERE conversation_id = 9 "
                  "AND role = 'member'"),
            2);
}

TEST_F(MigrationsTest, Version2MarksOwnMessagesRead) {
  auto db = OpenAt(1, R"sql(
    INSERT INTO users(id, username, password_hash, created_at) VALUES (1, 'a', 'h', 1), (2, 'b', 'h', 1);
    INSERT INTO conversations(id, name, is_group, created_at, direct_key) VALUES (7, NULL, 0, 1, '1:2');
    INSERT INTO users_conversations(conversation_id, user_id, joined_at) VALUES (7, 1, 1), (7, 2, 1);
    INSERT INTO messages(conversation_id, seq, sender_id, body, sent_at) VALUES
      (7, 1, 1, 'x', 1), (7, 2, 2, 'x', 1), (7, 3, 1, 'x', 1), (7, 4, 2, 'x', 1);
    UPDATE users_conversations SET read_seq = 4, delivered_seq = 4 WHERE user_id = 2;
  )sql");
  ASSERT_TRUE(db);
  EXPECT_EQ(Count(*db, "SELECT read_seq FROM users_conversations WHERE user_id = 1"), 0);
  ASSERT_TRUE(Migrated(*db));
  EXPECT_EQ(UserVersion(*db), LatestSchemaVersion());
  EXPECT_EQ(Count(*db, "SELECT read_seq FROM users_conversations WHERE user_id = 1"), 3);
  EXPECT_EQ(Count(*db, "SELECT delivered_seq FROM users_conversations WHERE user_id = 1"), 3);
  EXPECT_EQ(Count(*db, "SELECT read_seq FROM users_conversations WHERE user_id = 2"), 4)
      << "never moved back";
  ASSERT_TRUE(db->Exec("INSERT INTO messages(conversation_id, seq, sender_id, body, sent_at) "
                       "VALUES (7, 5, 1, 'x', 1)")
                  .ok());
  EXPECT_EQ(Count(*db, "SELECT read_seq FROM users_conversations WHERE user_id = 1"), 5);
  EXPECT_EQ(Count(*db, "SELECT read_seq FROM users_conversations WHERE user_id = 2"), 4);
}

// An upgraded database notifies nothing old: every member starts notified up to last_seq.
TEST_F(MigrationsTest, Version3StartsNotifiedAtTheNewestMessage) {
  auto db = Upgrade(2, R"sql(
    INSERT INTO users(id, username, password_hash, created_at) VALUES (1, 'a', 'h', 1), (2, 'b', 'h', 1);
    INSERT INTO conversations(id, name, is_group, created_at, direct_key) VALUES (7, NULL, 0, 1, '1:2');
    INSERT INTO users_conversations(conversation_id, user_id, joined_at) VALUES (7, 1, 1), (7, 2, 1);
    INSERT INTO messages(conversation_id, seq, sender_id, body, sent_at) VALUES
      (7, 1, 1, 'x', 1), (7, 2, 1, 'x', 1);
  )sql",
                    3);
  ASSERT_TRUE(db);
  EXPECT_EQ(UserVersion(*db), 3);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM users_conversations WHERE notified_seq = 2"), 2);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM users_conversations WHERE muted_until IS NULL"), 2);
  EXPECT_TRUE(HasTable(*db, "mentions"));
  // A mention of a message that does not exist is refused (foreign keys).
  EXPECT_FALSE(db->Exec("INSERT INTO mentions(user_id, message_id, conversation_id, seq) "
                        "VALUES (2, 999, 7, 1)")
                   .ok());
}

// Version 4 on a database written at version 3: existing accounts have no email, and the
// digest watermarks and push subscriptions go with their membership and user.
TEST_F(MigrationsTest, Version4AddsPushSubscriptionsEmailAndDigests) {
  auto db = Upgrade(3, R"sql(
    INSERT INTO users(id, username, password_hash, created_at) VALUES (1, 'a', 'h', 1), (2, 'b', 'h', 1);
    INSERT INTO conversations(id, name, is_group, created_at, direct_key) VALUES (7, NULL, 0, 1, '1:2');
    INSERT INTO users_conversations(conversation_id, user_id, joined_at) VALUES (7, 1, 1), (7, 2, 1);
  )sql",
                    4);
  ASSERT_TRUE(db);
  EXPECT_EQ(UserVersion(*db), 4);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM users WHERE email IS NULL"), 2);
  ASSERT_TRUE(db->Exec("INSERT INTO email_digests VALUES (7, 2, 3); "
                       "INSERT INTO push_subscriptions VALUES ('https://p/1', 2, 'k', 'a', 1);")
                  .ok());
  EXPECT_FALSE(db->Exec("INSERT INTO email_digests VALUES (8, 2, 1)").ok()) << "not a member";
  ASSERT_TRUE(db->Exec("DELETE FROM users_conversations WHERE user_id = 2").ok());
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM email_digests"), 0);
  ASSERT_TRUE(db->Exec("DELETE FROM users WHERE id = 2").ok());
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM push_subscriptions"), 0);
}

// Version 5 on a database written at version 4: the upload tables appear, empty, and take a
// record and its attachment row.
TEST_F(MigrationsTest, Version5AddsUploads) {
  auto db = Upgrade(4, kOneUser);
  ASSERT_TRUE(db);
  EXPECT_GE(UserVersion(*db), 5);
  ASSERT_TRUE(db->Exec(kOneUpload).ok());
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM uploads WHERE width = 0 AND thumb_sha256 = ''"), 1);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM message_attachments"), 0);
}

// Version 6 on a database written at version 5: the sweep's indexes appear, the uploads stay.
TEST_F(MigrationsTest, Version6IndexesUploadsForTheSweep) {
  auto db = Upgrade(5, std::string(kOneUser) + ";" + kOneUpload);
  ASSERT_TRUE(db);
  EXPECT_GE(UserVersion(*db), 6);
  EXPECT_EQ(Count(*db,
                  "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN "
                  "('uploads_created', 'uploads_sha256', 'uploads_thumb_sha256')"),
            3);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM uploads WHERE sha256 = 'ab'"), 1);
}

// Version 9 on a database written at version 8: refresh_tokens appears, empty, and meta gets an
// instance id of 32 hex digits; another database gets another.
TEST_F(MigrationsTest, Version9AddsRefreshTokensAndAnInstanceId) {
  auto db = Upgrade(8, kOneUser);
  ASSERT_TRUE(db);
  EXPECT_GE(UserVersion(*db), 9);
  EXPECT_TRUE(HasTable(*db, "refresh_tokens"));
  EXPECT_EQ(Count(*db,
                  "SELECT count(*) FROM meta WHERE key = 'instance_id' AND length(value) = 32 "
                  "AND value NOT GLOB '*[^0-9a-f]*'"),
            1);
  ASSERT_TRUE(db->Exec("INSERT INTO refresh_tokens(token_hash, user_id, family, expires_at) "
                       "VALUES ('h1', 1, 'f', 10)")
                  .ok());
  ASSERT_TRUE(db->Exec("DELETE FROM users WHERE id = 1").ok());
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM refresh_tokens"), 0);  // ON DELETE CASCADE

  DbOptions options;
  options.path = dir_.File("other.db");
  {
    auto other = SqliteDb::Open(options);
    ASSERT_TRUE(other.ok());
    ASSERT_TRUE(Migrate(**other).ok());
  }
  ASSERT_TRUE(db->Exec("ATTACH DATABASE '" + options.path + "' AS other").ok());
  EXPECT_EQ(Count(*db,
                  "SELECT count(*) FROM main.meta a JOIN other.meta b ON a.key = b.key "
                  "WHERE a.key = 'instance_id' AND a.value <> b.value"),
            1);
}

// Version 13 indexed the bodies already stored (ordinary, not deleted), and its triggers followed
// edits and deletions of indexed messages (version 15 keeps those rules under a new key).
TEST_F(MigrationsTest, Version13IndexesOrdinaryMessagesAndFollowsTheirChanges) {
  auto db = Upgrade(11, R"sql(
INSERT INTO users(id, username, password_hash, created_at) VALUES (1, 'a', 'h', 1);
INSERT INTO conversations(id, name, is_group, created_at) VALUES (1, 'g', 1, 1);
INSERT INTO users_conversations(conversation_id, user_id, joined_at) VALUES (1, 1, 1);
INSERT INTO messages(conversation_id, seq, sender_id, kind, body, sent_at, target, deleted_at)
VALUES (1, 1, 1, 'text', 'kept apple', 2, NULL, NULL),
       (1, 2, 1, 'text', '', 3, NULL, 5),
       (1, 3, 1, 'edit', 'apple edited', 4, 1, NULL),
       (1, 4, 1, 'note', 'custom apple', 4, NULL, NULL);
)sql",
                    13);
  ASSERT_TRUE(db);
  // The rowids (message ids) that hold `word`, as one number: 14 is messages 1 and 4.
  auto matches = [&](const std::string& word) {
    return Count(*db,
                 "SELECT coalesce(sum(rowid * (CASE rowid WHEN 1 THEN 10 ELSE 1 END)), 0) "
                 "FROM messages_fts WHERE messages_fts MATCH '" +
                     word + "'");
  };
  EXPECT_EQ(matches("apple"), 14);  // Not the deleted message (2), not the edit's row (3).
  EXPECT_EQ(matches("kept"), 10);
  ASSERT_TRUE(db->Exec("UPDATE messages SET body = 'pear now', edited_at = 9 WHERE id = 1").ok());
  EXPECT_EQ(matches("kept"), 0);
  EXPECT_EQ(matches("pear"), 10);
  EXPECT_EQ(matches("apple"), 4);
  ASSERT_TRUE(db->Exec("UPDATE messages SET body = '', deleted_at = 10 WHERE id = 4").ok());
  EXPECT_EQ(matches("apple"), 0);
  ASSERT_TRUE(db->Exec("DELETE FROM messages WHERE id = 1").ok());
  EXPECT_EQ(matches("pear"), 0);
  EXPECT_TRUE(db->Exec("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')").ok());
}

// Version 15 keys the index by conversation and seq: it indexes what version 13 held under the
// new key, and its triggers follow edits and deletions.
TEST_F(MigrationsTest, Version15KeysTheIndexByConversationAndSeq) {
  auto db = OpenAt(14, R"sql(
INSERT INTO users(id, username, password_hash, created_at) VALUES (1, 'a', 'h', 1);
INSERT INTO conversations(id, name, is_group, created_at) VALUES (1, 'g', 1, 1), (2, 'h', 1, 1);
INSERT INTO users_conversations(conversation_id, user_id, joined_at) VALUES (1, 1, 1), (2, 1, 1);
INSERT INTO messages(conversation_id, seq, sender_id, kind, body, sent_at, target, deleted_at)
VALUES (1, 1, 1, 'text', 'kept apple', 2, NULL, NULL),
       (2, 1, 1, 'text', '', 3, NULL, 5),
       (2, 2, 1, 'edit', 'apple edited', 4, 1, NULL),
       (2, 3, 1, 'note', 'custom apple', 4, NULL, NULL);
)sql");
  ASSERT_TRUE(db);
  // A version 13 index, brought up to date as the store would have before the upgrade.
  ASSERT_TRUE(db->Exec("UPDATE search_progress SET indexed_upto = 4").ok());
  Status s = Migrate(*db, SchemaMigrations().first(15));
  ASSERT_TRUE(s.ok()) << s.ToString();
  // The keys that hold `word`, as "conv:seq" pairs.
  auto matches = [&](const std::string& word) {
    std::string out;
    auto rows = db->Prepare(
        "SELECT rowid >> 32, rowid & 4294967295 FROM messages_fts WHERE messages_fts MATCH ?1 "
        "ORDER BY rowid");
    rows->BindText(1, word);
    while (rows->Step() == StepResult::kRow) {
      if (!out.empty()) out += ' ';
      out += std::to_string(rows->ColumnInt64(0)) + ":" + std::to_string(rows->ColumnInt64(1));
    }
    EXPECT_TRUE(rows->status().ok()) << rows->status().ToString();
    return out;
  };
  EXPECT_EQ(matches("apple"), "1:1 2:3");  // Not the deleted message, not the edit's row.
  EXPECT_EQ(matches("kept"), "1:1");
  ASSERT_TRUE(db->Exec("UPDATE messages SET body = 'pear now', edited_at = 9 WHERE id = 1").ok());
  EXPECT_EQ(matches("kept"), "");
  EXPECT_EQ(matches("pear"), "1:1");
  EXPECT_EQ(matches("apple"), "2:3");
  ASSERT_TRUE(db->Exec("UPDATE messages SET body = '', deleted_at = 10 WHERE id = 4").ok());
  EXPECT_EQ(matches("apple"), "");
  ASSERT_TRUE(db->Exec("DELETE FROM messages WHERE id = 1").ok());
  EXPECT_EQ(matches("pear"), "");

  EXPECT_TRUE(db->Exec("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')").ok());
}

// Version 16 moves the index to search.db (sqlite_search_index_test.cc): nothing of it stays in
// chat.db, and the messages stay as they were.
TEST_F(MigrationsTest, Version16TakesTheIndexOutOfTheChatDatabase) {
  auto db = Upgrade(15, R"sql(
INSERT INTO users(id, username, password_hash, created_at) VALUES (1, 'a', 'h', 1);
INSERT INTO conversations(id, name, is_group, created_at) VALUES (1, 'g', 1, 1);
INSERT INTO users_conversations(conversation_id, user_id, joined_at) VALUES (1, 1, 1);
INSERT INTO messages(conversation_id, seq, sender_id, kind, body, sent_at)
VALUES (1, 1, 1, 'text', 'kept apple', 2);
)sql");
  ASSERT_TRUE(db);
  EXPECT_EQ(Count(*db,
                  "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'messages_fts%' OR "
                  "name = 'search_progress'"),
            0);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM messages WHERE body = 'kept apple'"), 1);
  // Edits and deletions no longer touch an index in chat.db.
  EXPECT_TRUE(db->Exec("UPDATE messages SET body = '', deleted_at = 3 WHERE id = 1").ok());
}

TEST_F(MigrationsTest, BuiltInListIsConsecutiveFromOne) {
  auto list = SchemaMigrations();
  ASSERT_FALSE(list.empty());
  for (size_t i = 0; i < list.size(); ++i) EXPECT_EQ(list[i].version, static_cast<int64_t>(i + 1));
  EXPECT_EQ(LatestSchemaVersion(), list.back().version);
}

}  // namespace
}  // namespace ringcast::storage
