// SqliteDb: one SQLite connection, its pragmas and its cache of prepared statements.
// Statement: one prepared statement (RAII over sqlite3_stmt).
//
// Owner: exactly one thread at a time — the BatchExecutor's writer thread for the read-write
// connection, one reader thread per read-only connection. Connections are opened with
// SQLITE_OPEN_NOMUTEX (SQLite's "multi-thread" mode): nothing here locks, so never share a
// SqliteDb, a Statement or a StatementLease between threads.
//
// Errors are sticky on a Statement: a failed prepare or bind is remembered and returned by the
// next Step()/Exec(), so the common case reads as one chain and one check:
//
//   auto insert = db.Prepare("INSERT INTO users(username, password_hash, created_at) "
//                            "VALUES (?1, ?2, ?3)");
//   Status s = insert->BindText(1, name).BindText(2, hash).BindInt64(3, now_ms).Exec();
//
// Durability (see storage/README.md): the writer runs in WAL mode with `synchronous` from
// DbOptions. kFull (the default) fsyncs the WAL at every COMMIT, so a committed transaction
// survives a process crash, an OS crash and a power loss. kNormal fsyncs only at checkpoints:
// a committed transaction survives a process crash (kill -9; the bytes are in the OS page cache)
// but the last transactions before an OS crash or power loss may roll back on recovery. Either
// way the file is never corrupted and a transaction is all-or-nothing. The group commit makes
// kFull cheap (one fsync per batch, not per message), so an ack means "survives power loss".
#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storage/status.h"

namespace ringcast::storage {

// Maps a SQLite result code (primary or extended) to a Status; `context` prefixes the message.
Status SqliteStatus(int rc, std::string_view context, std::string_view detail);

enum class Synchronous : uint8_t {
  kNormal,  // WAL fsynced at checkpoints only: survives process crashes, not power loss.
  kFull,    // WAL fsynced at every commit: survives power loss.
};

struct DbOptions {
  std::string path;
  bool read_only = false;  // Readers: SQLITE_OPEN_READONLY, never creates the file.
  Synchronous synchronous = Synchronous::kFull;
  // How long a statement waits for a lock held by another connection before failing with
  // kBusy. Within one process only the writer takes write locks and WAL readers never block
  // it, so this matters only when another process (the sqlite3 CLI, a backup) holds a lock.
  int busy_timeout_ms = 5000;
  // Statements kept prepared, keyed by SQL text. Past this, Prepare() still works but the
  // statement is finalized after use (so dynamically built SQL cannot grow the cache forever).
  size_t statement_cache_capacity = 256;
  // SQLite's page cache for this connection, KiB.
  uint32_t cache_kib = 32 * 1024;
  // Page size of a database this connection creates (an existing file keeps its own); 0:
  // SQLite's default (4096). Every commit writes each page it dirtied to the WAL whole, and a
  // chat append dirties a few scattered index leaves, so small pages write less per message
  // (storage/README.md, "WAL bytes per message").
  uint32_t page_size = 0;
  // Other database files this connection attaches, as (schema name, path): the chat store's
  // readers attach the search index (sqlite_search_index.h). Attached read-only when this
  // connection is.
  std::vector<std::pair<std::string, std::string>> attach;
};

enum class StepResult : uint8_t { kRow, kDone, kError };

template <typename T>
inline constexpr bool kIsOptional = false;
template <typename T>
inline constexpr bool kIsOptional<std::optional<T>> = true;

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}  // Takes ownership.
  explicit Statement(Status prepare_error) : status_(std::move(prepare_error)) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  bool valid() const { return stmt_ != nullptr; }

  // Parameters are 1-based, as in SQLite (`?1`, `?2`, ...). Text and blobs are copied
  // (SQLITE_TRANSIENT), so the argument need not outlive the call. A failed bind makes the
  // statement fail at the next Step()/Exec().
  Statement& BindInt64(int index, int64_t value);
  Statement& BindDouble(int index, double value);
  Statement& BindText(int index, std::string_view value);
  Statement& BindBlob(int index, std::span<const uint8_t> value);
  Statement& BindNull(int index);

  // Binds ?index to `value` by its type: integers (bool included) as BindInt64, doubles as
  // BindDouble, anything a string_view takes as BindText; a std::optional binds NULL when empty.
  template <typename Value>
  Statement& BindValue(int index, const Value& value) {
    if constexpr (kIsOptional<Value>) {
      return value ? BindValue(index, *value) : BindNull(index);
    } else if constexpr (std::is_integral_v<Value>) {
      return BindInt64(index, static_cast<int64_t>(value));
    } else if constexpr (std::is_floating_point_v<Value>) {
      return BindDouble(index, value);
    } else {
      return BindText(index, std::string_view(value));
    }
  }

  // Binds ?1, ?2, ... ?N to `values` in order, each as BindValue does. For the common statement
  // whose parameters are numbered in the order they are passed; BindValue the others one by one.
  template <typename... Values>
  Statement& Bind(const Values&... values) {
    int index = 0;
    (BindValue(++index, values), ...);
    return *this;
  }

  // kRow: a row is available through the Column getters. kDone: finished. kError: status()
  // says why; the statement must be Reset() (a lease does that) before it runs again.
  StepResult Step();

  // Steps to completion (rows, if any, are skipped) and resets the statement, keeping the
  // bindings. For INSERT/UPDATE/DELETE/DDL. Returns the first error from prepare, bind or step.
  Status Exec();

  // Columns are 0-based. Views and spans stay valid until the next Step(), Reset() or
  // destruction. A NULL column reads as 0 / empty; use ColumnIsNull() to tell them apart.
  int ColumnCount() const;
  bool ColumnIsNull(int column) const;
  int64_t ColumnInt64(int column) const;
  double ColumnDouble(int column) const;
  std::string_view ColumnText(int column) const;
  std::span<const uint8_t> ColumnBlob(int column) const;

  // Rewinds the statement and clears its bindings and its bind/step error (not a prepare error).
  void Reset();

  // ok, or the first error since the last Reset().
  const Status& status() const { return status_; }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  void Fail(int rc, std::string_view what);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  Status status_;
};

// A statement borrowed from SqliteDb's cache for one use; on destruction it is reset and its
// bindings cleared, so a read transaction is never left open by a forgotten SELECT. Must not
// outlive its SqliteDb.
class StatementLease {
 public:
  StatementLease(StatementLease&& other) noexcept;
  StatementLease& operator=(StatementLease&&) = delete;
  StatementLease(const StatementLease&) = delete;
  StatementLease& operator=(const StatementLease&) = delete;
  ~StatementLease();

  Statement& operator*() { return *stmt_; }
  Statement* operator->() { return stmt_; }

 private:
  friend class SqliteDb;
  StatementLease(Statement* cached, bool* in_use) : stmt_(cached), in_use_(in_use) {}
  explicit StatementLease(Statement owned) : owned_(std::move(owned)), stmt_(&owned_) {}

  Statement owned_;         // Used when the cache could not lend one (full, or already lent).
  Statement* stmt_;         // The cached statement, or &owned_.
  bool* in_use_ = nullptr;  // The cache entry's flag; null for an owned statement.
};

class SqliteDb {
 public:
  // Opens (creating it unless read_only) and configures a connection: extended result codes,
  // busy timeout, foreign_keys=ON, no double-quoted string literals, and for a read-write
  // connection journal_mode=WAL (checked) and `synchronous`. Does not touch the schema: see
  // Migrate() in storage/migrations.h.
  static Result<std::unique_ptr<SqliteDb>> Open(const DbOptions& options);

  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;
  ~SqliteDb();

  // The cached statement for this exact SQL text, prepared on first use. If the same text is
  // already lent (a nested use), or the cache is full, the lease holds a fresh statement.
  StatementLease Prepare(std::string_view sql);
  Statement PrepareUncached(std::string_view sql);
  // Prepare(sql), ?1..?N bound to `values` as Statement::Bind binds them, and Exec(): a
  // statement run once for its effect (an INSERT, UPDATE or DELETE, a transaction's control).
  template <typename... Values>
  Status Run(std::string_view sql, const Values&... values) {
    return Prepare(sql)->Bind(values...).Exec();
  }

  // Runs one or more `;`-separated statements, discarding rows (schema scripts, pragmas).
  Status Exec(std::string_view sql);
  // The first column of the first row as an integer (e.g. "PRAGMA user_version").
  Result<int64_t> QueryInt64(std::string_view sql);
  // Sizes the page cache of `schema` ("main" or an attached file's name, a constant of ours) to
  // options().cache_kib. The size is per schema: an attached file would get SQLite's default.
  Status SetCacheSize(std::string_view schema);

  // Transaction control through cached statements (a batch pays no parse for them). BEGIN
  // IMMEDIATE takes the write lock up front, so a write transaction never fails half-way
  // with SQLITE_BUSY on lock upgrade.
  Status BeginImmediate();
  Status BeginDeferred();
  Status Commit();
  Status Rollback();
  // Nested savepoints; `name` must be a plain SQL identifier.
  Status Savepoint(std::string_view name);
  Status ReleaseSavepoint(std::string_view name);
  Status RollbackToSavepoint(std::string_view name);

  bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }
  int64_t LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
  int64_t Changes() const { return sqlite3_changes64(db_); }

  // While on, BEGIN/COMMIT/ROLLBACK/END fail with kMisuse however they are issued (the methods
  // above, Prepare, Exec, or sqlite3_* on raw()). The executor turns it on around job code: a
  // job that ended the batch's transaction itself would commit or discard its neighbours' work
  // behind the executor's back. SAVEPOINT, RELEASE and ROLLBACK TO stay allowed.
  void SetTransactionGuard(bool on) { transaction_guard_ = on; }

  const DbOptions& options() const { return options_; }
  size_t cached_statements() const { return cache_.size(); }
  sqlite3* raw() const { return db_; }

 private:
  struct CacheEntry {
    Statement statement;
    bool in_use = false;
    bool transaction_control = false;  // BEGIN/COMMIT/ROLLBACK/END: refused under the guard.
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  SqliteDb(sqlite3* db, DbOptions options) : db_(db), options_(std::move(options)) {}
  Status Configure();
  static int Authorize(void* self, int action, const char*, const char*, const char*, const char*);

  sqlite3* db_;
  DbOptions options_;
  bool transaction_guard_ = false;
  bool prepared_transaction_control_ = false;  // Set by Authorize during the last prepare.
  std::unordered_map<std::string, std::unique_ptr<CacheEntry>, StringHash, std::equal_to<>> cache_;
};

}  // namespace ringcast::storage
