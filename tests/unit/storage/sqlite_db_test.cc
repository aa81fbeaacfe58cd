#include "storage/sqlite_db.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/unit/storage/storage_test_util.h"

namespace ringcast::storage {
namespace {

class SqliteDbTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(dir_.ok()); }

  std::unique_ptr<SqliteDb> OpenDb(Synchronous sync = Synchronous::kFull, size_t cache = 256) {
    return testing::OpenTestDb(
        {.path = dir_.File("test.db"), .synchronous = sync, .statement_cache_capacity = cache});
  }

  testing::TempDir dir_;
};

std::string QueryText(SqliteDb& db, std::string_view sql) {
  auto query = db.Prepare(sql);
  if (query->Step() != StepResult::kRow) return "<" + query->status().ToString() + ">";
  return std::string(query->ColumnText(0));
}

TEST_F(SqliteDbTest, OpenConfiguresWalForeignKeysSynchronousAndBusyTimeout) {
  auto db = OpenDb(Synchronous::kFull);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(QueryText(*db, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(*db->QueryInt64("PRAGMA synchronous"), 2);  // FULL
  EXPECT_EQ(*db->QueryInt64("PRAGMA foreign_keys"), 1);
  EXPECT_EQ(*db->QueryInt64("PRAGMA busy_timeout"), 5000);
  db.reset();

  auto normal = OpenDb(Synchronous::kNormal);
  ASSERT_NE(normal, nullptr);
  EXPECT_EQ(*normal->QueryInt64("PRAGMA synchronous"), 1);  // NORMAL
}

// --store-cache-mib bounds every file a connection reads, an attached one too (the readers attach
// search.db): SQLite sizes each schema's cache apart, 2 MB unless told.
TEST_F(SqliteDbTest, AnAttachedFileGetsTheSamePageCacheBound) {
  DbOptions options{.path = dir_.File("main.db"), .cache_kib = 1024};
  options.attach = {{"other", dir_.File("other.db")}};
  Result<std::unique_ptr<SqliteDb>> db = SqliteDb::Open(options);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  EXPECT_EQ(*(*db)->QueryInt64("PRAGMA main.cache_size"), -1024);
  EXPECT_EQ(*(*db)->QueryInt64("PRAGMA other.cache_size"), -1024);
}

TEST_F(SqliteDbTest, BindsAndReadsBackEveryType) {
  auto db = OpenDb();
  ASSERT_TRUE(db->Exec("CREATE TABLE t(i INTEGER, s TEXT, b BLOB, n ANY) STRICT").ok());
  const std::string with_nul("a\0b", 3);
  const std::vector<uint8_t> blob = {0, 1, 2, 255};
  auto insert = db->Prepare("INSERT INTO t(i, s, b, n) VALUES (?1, ?2, ?3, ?4)");
  ASSERT_TRUE(insert->BindInt64(1, INT64_MIN)
                  .BindText(2, with_nul)
                  .BindBlob(3, blob)
                  .BindNull(4)
                  .Exec()
                  .ok());
  insert->Reset();
  Status s = insert->BindInt64(1, 7).BindText(2, "").BindBlob(3, {}).BindInt64(4, 1).Exec();
  ASSERT_TRUE(s.ok()) << s.ToString();

  auto select = db->Prepare("SELECT i, s, b, n, typeof(b) FROM t ORDER BY rowid");
  ASSERT_EQ(select->Step(), StepResult::kRow);
  EXPECT_EQ(select->ColumnCount(), 5);
  EXPECT_EQ(select->ColumnInt64(0), INT64_MIN);
  EXPECT_EQ(select->ColumnText(1), with_nul);
  auto got = select->ColumnBlob(2);
  EXPECT_EQ(std::vector<uint8_t>(got.begin(), got.end()), blob);
  EXPECT_TRUE(select->ColumnIsNull(3));
  ASSERT_EQ(select->Step(), StepResult::kRow);
  EXPECT_EQ(select->ColumnInt64(0), 7);
  EXPECT_EQ(select->ColumnText(1), "");
  EXPECT_FALSE(select->ColumnIsNull(1));
  EXPECT_TRUE(select->ColumnBlob(2).empty());
  EXPECT_EQ(select->ColumnText(4), "blob");  // An empty blob stays a blob, not NULL.
  EXPECT_EQ(select->Step(), StepResult::kDone);
  EXPECT_TRUE(select->status().ok());
}

// Bind(a, b, ...) numbers the parameters ?1, ?2, ... in order and picks the type from the value.
TEST_F(SqliteDbTest, BindTakesParametersInOrderByType) {
  auto db = OpenDb();
  ASSERT_TRUE(db->Exec("CREATE TABLE t(i INTEGER, s TEXT, u INTEGER, f REAL, v TEXT) STRICT").ok());
  const std::string text = "str";
  const uint32_t small = 42;
  auto insert = db->Prepare("INSERT INTO t(i, s, u, f, v) VALUES (?1, ?2, ?3, ?4, ?5)");
  Status s = insert->Bind(int64_t{INT64_MIN}, text, small, 0.5, std::string_view("view")).Exec();
  ASSERT_TRUE(s.ok()) << s.ToString();

  auto select = db->Prepare("SELECT i, s, u, f, v FROM t");
  ASSERT_EQ(select->Step(), StepResult::kRow);
  EXPECT_EQ(select->ColumnInt64(0), INT64_MIN);
  EXPECT_EQ(select->ColumnText(1), "str");
  EXPECT_EQ(select->ColumnInt64(2), 42);
  EXPECT_EQ(select->ColumnDouble(3), 0.5);
  EXPECT_EQ(select->ColumnText(4), "view");
  EXPECT_EQ(select->Step(), StepResult::kDone);
}

TEST_F(SqliteDbTest, CacheLendsTheSameStatementAndResetsItOnReturn) {
  auto db = OpenDb();
  ASSERT_TRUE(db->Exec("CREATE TABLE t(x INTEGER)").ok());
  ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (1), (2)").ok());
  sqlite3_stmt* first = nullptr;
  {
    auto query = db->Prepare("SELECT x FROM t WHERE x >= ?1");
    first = query->get();
    query->BindInt64(1, 1);
    ASSERT_EQ(query->Step(), StepResult::kRow);  // Left mid-result on purpose.
    EXPECT_TRUE(sqlite3_stmt_busy(first));
  }
  EXPECT_FALSE(sqlite3_stmt_busy(first));  // The lease reset it: no read transaction left open.

  auto again = db->Prepare("SELECT x FROM t WHERE x >= ?1");
  EXPECT_EQ(again->get(), first);
  // Bindings were cleared: NULL parameter, so `x >= NULL` matches nothing.
  EXPECT_EQ(again->Step(), StepResult::kDone);
}

TEST_F(SqliteDbTest, NestedUseOfTheSameSqlGetsItsOwnStatement) {
  auto db = OpenDb();
  ASSERT_TRUE(db->Exec("CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (1), (2), (3)").ok());
  const char* sql = "SELECT x FROM t ORDER BY x";
  auto outer = db->Prepare(sql);
  int pairs = 0;
  while (outer->Step() == StepResult::kRow) {
    auto inner = db->Prepare(sql);
    EXPECT_NE(inner->get(), outer->get());
    while (inner->Step() == StepResult::kRow) ++pairs;
  }
  EXPECT_EQ(pairs, 9);
  EXPECT_EQ(db->cached_statements(), 1u);
}

TEST_F(SqliteDbTest, CacheCapacityBoundsTheCacheButPrepareStillWorks) {
  auto db = OpenDb(Synchronous::kFull, /*cache=*/2);
  EXPECT_EQ(*db->QueryInt64("SELECT 1"), 1);
  EXPECT_EQ(*db->QueryInt64("SELECT 2"), 2);
  EXPECT_EQ(*db->QueryInt64("SELECT 3"), 3);
  EXPECT_EQ(*db->QueryInt64("SELECT 3"), 3);
  EXPECT_EQ(db->cached_statements(), 2u);
}

TEST_F(SqliteDbTest, PrepareErrorIsStickyAndNotCached) {
  auto db = OpenDb();
  auto bad = db->Prepare("SELEC 1");
  EXPECT_FALSE(bad->valid());
  Status s = bad->BindInt64(1, 1).Exec();  // Binding an invalid statement is a no-op.
  EXPECT_EQ(s.errc(), Errc::kMisuse);
  EXPECT_NE(s.message().find("syntax error"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("SELEC 1"), std::string::npos) << s.ToString();
  EXPECT_EQ(db->cached_statements(), 0u);
}

TEST_F(SqliteDbTest, BindErrorIsReportedByExec) {
  auto db = OpenDb();
  ASSERT_TRUE(db->Exec("CREATE TABLE t(x INTEGER)").ok());
  auto insert = db->Prepare("INSERT INTO t VALUES (?1)");
  Status s = insert->BindInt64(1, 1).BindInt64(5, 2).Exec();
  EXPECT_EQ(s.errc(), Errc::kMisuse);
  EXPECT_EQ(s.backend_code() & 0xff, SQLITE_RANGE);
  EXPECT_EQ(*db->QueryInt64("SELECT count(*) FROM t"), 0);
}

TEST_F(SqliteDbTest, ConstraintErrorsMapToConstraintAndTheStatementStaysUsable) {
  auto db = OpenDb();
  ASSERT_TRUE(db->Exec("CREATE TABLE t(x INTEGER PRIMARY KEY)").ok());
  const char* sql = "INSERT INTO t VALUES (?1)";
  EXPECT_TRUE(db->Prepare(sql)->BindInt64(1, 1).Exec().ok());
  Status dup = db->Prepare(sql)->BindInt64(1, 1).Exec();
  EXPECT_EQ(dup.errc(), Errc::kConstraint) << dup.ToString();
  EXPECT_EQ(dup.backend_code(), SQLITE_CONSTRAINT_PRIMARYKEY);
  EXPECT_TRUE(db->Prepare(sql)->BindInt64(1, 2).Exec().ok());
  EXPECT_EQ(*db->QueryInt64("SELECT count(*) FROM t"), 2);
}

TEST_F(SqliteDbTest, DoubleQuotedStringLiteralsAreRejected) {
  auto db = OpenDb();
  ASSERT_TRUE(db->Exec("CREATE TABLE t(x TEXT)").ok());
  // With SQLite's legacy default this would insert the string "nope" instead of failing.
  EXPECT_EQ(db->Exec("INSERT INTO t VALUES (\"nope\")").errc(), Errc::kMisuse);
}

TEST_F(SqliteDbTest, ReadOnlyConnectionNeverCreatesAndNeverWrites) {
  DbOptions options;
  options.path = dir_.File("absent.db");
  options.read_only = true;
  Result<std::unique_ptr<SqliteDb>> missing = SqliteDb::Open(options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().errc(), Errc::kIo) << missing.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(options.path));

  auto writer = OpenDb();
  ASSERT_TRUE(writer->Exec("CREATE TABLE t(x INTEGER)").ok());
  options.path = writer->options().path;
  Result<std::unique_ptr<SqliteDb>> reader = SqliteDb::Open(options);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->Exec("INSERT INTO t VALUES (1)").errc(), Errc::kReadOnly);
  EXPECT_EQ(*(*reader)->QueryInt64("SELECT count(*) FROM t"), 0);
}

TEST_F(SqliteDbTest, OpenReportsAnUnwritableLocation) {
  DbOptions options;
  options.path = dir_.File("no/such/dir/x.db");
  Result<std::unique_ptr<SqliteDb>> db = SqliteDb::Open(options);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().errc(), Errc::kIo);
  EXPECT_NE(db.status().message().find(options.path), std::string::npos);
}

TEST_F(SqliteDbTest, SavepointsUndoOnlyTheirOwnWork) {
  auto db = OpenDb();
  ASSERT_TRUE(db->Exec("CREATE TABLE t(x INTEGER)").ok());
  ASSERT_TRUE(db->BeginImmediate().ok());
  EXPECT_TRUE(db->InTransaction());
  ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (1)").ok());
  ASSERT_TRUE(db->Savepoint("sp").ok());
  ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (2)").ok());
  ASSERT_TRUE(db->RollbackToSavepoint("sp").ok());
  ASSERT_TRUE(db->ReleaseSavepoint("sp").ok());
  EXPECT_TRUE(db->InTransaction());
  ASSERT_TRUE(db->Commit().ok());
  EXPECT_FALSE(db->InTransaction());
  EXPECT_EQ(*db->QueryInt64("SELECT sum(x) FROM t"), 1);
}

TEST_F(SqliteDbTest, TransactionGuardRefusesTransactionControlHoweverIssued) {
  auto db = OpenDb();
  ASSERT_TRUE(db->Exec("CREATE TABLE t(x INTEGER)").ok());
  ASSERT_TRUE(db->Prepare("COMMIT")->valid());  // Cached while the guard is off.
  ASSERT_TRUE(db->BeginImmediate().ok());
  db->SetTransactionGuard(true);
  EXPECT_EQ(db->Commit().errc(), Errc::kMisuse);
  EXPECT_EQ(db->Rollback().errc(), Errc::kMisuse);
  EXPECT_EQ(db->Prepare("COMMIT")->Exec().errc(), Errc::kMisuse);
  EXPECT_EQ(db->Prepare("END")->Exec().errc(), Errc::kMisuse);
  EXPECT_EQ(db->Exec("COMMIT").errc(), Errc::kMisuse);
  EXPECT_NE(sqlite3_exec(db->raw(), "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_TRUE(db->InTransaction());
  // Savepoints stay available to jobs.
  EXPECT_TRUE(db->Savepoint("mine").ok());
  EXPECT_TRUE(db->Exec("INSERT INTO t VALUES (1)").ok());
  EXPECT_TRUE(db->ReleaseSavepoint("mine").ok());
  db->SetTransactionGuard(false);
  EXPECT_TRUE(db->Commit().ok());
  EXPECT_EQ(*db->QueryInt64("SELECT count(*) FROM t"), 1);
}

TEST_F(SqliteDbTest, QueryInt64ReportsNoRow) {
  auto db = OpenDb();
  ASSERT_TRUE(db->Exec("CREATE TABLE t(x INTEGER)").ok());
  Result<int64_t> none = db->QueryInt64("SELECT x FROM t");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().errc(), Errc::kMisuse);
}

}  // namespace
}  // namespace ringcast::storage
