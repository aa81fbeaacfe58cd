#include "storage/sqlite_db.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>

#include "storage/sqlite_fts_hit.h"

namespace ringcast::storage {
namespace {

Errc ErrcFromSqlite(int rc) {
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return Errc::kOk;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:  // Wrong type for an INTEGER PRIMARY KEY: the input is at fault.
    case SQLITE_TOOBIG:
      return Errc::kConstraint;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Errc::kBusy;
    case SQLITE_READONLY:
      return Errc::kReadOnly;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      return Errc::kIo;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Errc::kCorrupt;
    case SQLITE_ERROR:  // Syntax errors, unknown tables/columns: our SQL is wrong.
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_AUTH:
      return Errc::kMisuse;
    default:
      return Errc::kInternal;
  }
}

// Ownership bugs (a lease outliving its connection) would become use-after-free; stop loudly.
void CheckOrDie(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "storage: fatal: %s\n", what);
    std::abort();
  }
}

}  // namespace

const char* ErrcName(Errc errc) {
  switch (errc) {
    case Errc::kOk:
      return "kOk";
    case Errc::kConstraint:
      return "kConstraint";
    case Errc::kBusy:
      return "kBusy";
    case Errc::kReadOnly:
      return "kReadOnly";
    case Errc::kIo:
      return "kIo";
    case Errc::kCorrupt:
      return "kCorrupt";
    case Errc::kSchemaTooNew:
      return "kSchemaTooNew";
    case Errc::kSchemaForeign:
      return "kSchemaForeign";
    case Errc::kMisuse:
      return "kMisuse";
    case Errc::kStopped:
      return "kStopped";
    case Errc::kUnavailable:
      return "kUnavailable";
    case Errc::kQueueFull:
      return "kQueueFull";
    case Errc::kJobFailed:
      return "kJobFailed";
    case Errc::kInternal:
      return "kInternal";
  }
  return "?";
}

std::string Status::ToString() const {
  std::string out = ErrcName(errc_);
  if (backend_code_ != 0) out += " (" + std::to_string(backend_code_) + ")";
  if (!message_.empty()) out += ": " + message_;
  return out;
}

Status SqliteStatus(int rc, std::string_view context, std::string_view detail) {
  Errc errc = ErrcFromSqlite(rc);
  if (errc == Errc::kOk) return Status();
  std::string message(context);
  if (!detail.empty()) {
    if (!message.empty()) message += ": ";
    message += detail;
  }
  return Status(errc, rc, std::move(message));
}

// ---- Statement ----

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      status_(std::move(other.status_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    status_ = std::move(other.status_);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::Fail(int rc, std::string_view what) {
  if (!status_.ok()) return;  // Keep the first error: later ones are usually its consequences.
  std::string context(what);
  if (stmt_ != nullptr) {
    context += " [";
    context += sqlite3_sql(stmt_);
    context += "]";
  }
  status_ = SqliteStatus(rc, context, db_ != nullptr ? sqlite3_errmsg(db_) : "");
}

Statement& Statement::BindInt64(int index, int64_t value) {
  if (stmt_ == nullptr) return *this;
  if (int rc = sqlite3_bind_int64(stmt_, index, value); rc != SQLITE_OK) Fail(rc, "bind");
  return *this;
}

Statement& Statement::BindText(int index, std::string_view value) {
  if (stmt_ == nullptr) return *this;
  int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) Fail(rc, "bind");
  return *this;
}

Statement& Statement::BindBlob(int index, std::span<const uint8_t> value) {
  if (stmt_ == nullptr) return *this;
  // A null data pointer would bind NULL, not an empty blob; keep empty blobs blobs.
  static const uint8_t kEmpty = 0;
  const void* data = value.empty() ? &kEmpty : value.data();
  int rc = sqlite3_bind_blob64(stmt_, index, data, value.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) Fail(rc, "bind");
  return *this;
}

Statement& Statement::BindDouble(int index, double value) {
  if (stmt_ == nullptr) return *this;
  if (int rc = sqlite3_bind_double(stmt_, index, value); rc != SQLITE_OK) Fail(rc, "bind");
  return *this;
}

Statement& Statement::BindNull(int index) {
  if (stmt_ == nullptr) return *this;
  if (int rc = sqlite3_bind_null(stmt_, index); rc != SQLITE_OK) Fail(rc, "bind");
  return *this;
}

StepResult Statement::Step() {
  if (stmt_ == nullptr || !status_.ok()) return StepResult::kError;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return StepResult::kRow;
  if (rc == SQLITE_DONE) return StepResult::kDone;
  Fail(rc, "step");
  return StepResult::kError;
}

Status Statement::Exec() {
  StepResult result;
  do {
    result = Step();
  } while (result == StepResult::kRow);
  Status status = status_;
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    status_ = Status();
  }
  return status;
}

int Statement::ColumnCount() const { return sqlite3_column_count(stmt_); }

bool Statement::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t Statement::ColumnInt64(int column) const { return sqlite3_column_int64(stmt_, column); }

double Statement::ColumnDouble(int column) const { return sqlite3_column_double(stmt_, column); }

std::string_view Statement::ColumnText(int column) const {
  // Text first, then the size: that order is what SQLite documents as safe.
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text),
          static_cast<size_t>(sqlite3_column_bytes(stmt_, column))};
}

std::span<const uint8_t> Statement::ColumnBlob(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  if (data == nullptr) return {};
  return {static_cast<const uint8_t*>(data),
          static_cast<size_t>(sqlite3_column_bytes(stmt_, column))};
}

void Statement::Reset() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  status_ = Status();
}

// ---- StatementLease ----

StatementLease::StatementLease(StatementLease&& other) noexcept
    : owned_(std::move(other.owned_)),
      stmt_(other.stmt_ == &other.owned_ ? &owned_ : other.stmt_),
      in_use_(std::exchange(other.in_use_, nullptr)) {
  other.stmt_ = &other.owned_;
}

StatementLease::~StatementLease() {
  if (in_use_ != nullptr) {
    stmt_->Reset();
    *in_use_ = false;
  }
}

// ---- SqliteDb ----

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const DbOptions& options) {
  // Process-wide and only possible before SQLite initializes itself: turn off its memory
  // statistics, which take a global mutex around every allocation (12% of the instructions of a
  // message insert, measured with callgrind). We are SQLite's only user in the process; if it
  // was already initialized the call fails harmlessly with SQLITE_MISUSE.
  static std::once_flag configure_once;
  std::call_once(configure_once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });

  // NOMUTEX: each connection is confined to one thread at a time, so SQLite's per-connection
  // mutex would be pure overhead. EXRESCODE: extended codes from open itself.
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  flags |= options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(options.path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status status = SqliteStatus(rc, "cannot open database " + options.path,
                                 raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
    sqlite3_close_v2(raw);
    return status;
  }
  std::unique_ptr<SqliteDb> db(new SqliteDb(raw, options));
  if (Status status = db->Configure(); !status.ok()) return status;
  return db;
}

Status SqliteDb::Configure() {
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, options_.busy_timeout_ms);
  // Reject "text" as a string literal: with it allowed, a misspelt column silently becomes a
  // string constant instead of an error.
  sqlite3_db_config(db_, SQLITE_DBCONFIG_DQS_DML, 0, nullptr);
  sqlite3_db_config(db_, SQLITE_DBCONFIG_DQS_DDL, 0, nullptr);
  sqlite3_set_authorizer(db_, &SqliteDb::Authorize, this);

  // Search ranks FTS5's hits itself (sqlite_fts_hit.h); the function is per connection.
  if (Status s = RegisterFtsHitFunction(db_); !s.ok()) return s;
  // Foreign keys are off by default in SQLite and per connection; our schema relies on them.
  if (Status s = Exec("PRAGMA foreign_keys = ON"); !s.ok()) return s;
  // SQLite's default page cache (2 MB) makes the hot indexes of a busy chat miss it and read
  // pages back from the OS with pread on every batch.
  if (Status s = SetCacheSize("main"); !s.ok()) return s;
  for (const auto& [schema, path] : options_.attach) {
    // The schema name is ours (a constant), not input; the path is bound.
    if (Status s = Run("ATTACH DATABASE ?1 AS " + schema, path); !s.ok()) return s;
    // cache_size is per schema: an attached file would get SQLite's default (2 MB) instead.
    if (Status s = SetCacheSize(schema); !s.ok()) return s;
  }
  if (options_.read_only) return Status();
  if (options_.page_size != 0) {
    // Only takes effect while the file is still empty: before the WAL switch writes page 1.
    if (Status s = Exec("PRAGMA page_size = " + std::to_string(options_.page_size)); !s.ok()) {
      return s;
    }
  }

  // A persistent setting of the file; readers inherit it. Reading it back catches file systems
  // where WAL is impossible (SQLite then silently stays in rollback mode).
  Statement wal = PrepareUncached("PRAGMA journal_mode = WAL");
  if (wal.Step() != StepResult::kRow) return wal.status();
  std::string mode(wal.ColumnText(0));
  if (mode != "wal" && mode != "memory") {
    return Status(Errc::kIo, "cannot enable WAL on " + options_.path + " (journal_mode=" + mode +
                                 "); is the data directory on a network file system?");
  }
  const char* sync = options_.synchronous == Synchronous::kFull ? "PRAGMA synchronous = FULL"
                                                                : "PRAGMA synchronous = NORMAL";
  if (Status s = Exec(sync); !s.ok()) return s;
  // The WAL file is reused, not shrunk, after a checkpoint; without a limit one burst (or a
  // long read that held checkpoints back) would leave it at its high-water mark for good.
  return Exec("PRAGMA journal_size_limit = 67108864");
}

SqliteDb::~SqliteDb() {
  for (const auto& [sql, entry] : cache_) {
    CheckOrDie(!entry->in_use, "SqliteDb destroyed while a StatementLease is alive");
  }
  cache_.clear();
  // close_v2: if a caller still holds an uncached Statement, the connection lingers as a zombie
  // until it is finalized instead of leaking. Closing the last connection checkpoints the WAL.
  sqlite3_close_v2(db_);
}

int SqliteDb::Authorize(void* self, int action, const char*, const char*, const char*,
                        const char*) {
  // Called while a statement is prepared (or re-prepared after a schema change), not when it
  // runs; Prepare() uses the remembered flag to refuse a cached transaction statement too.
  auto* db = static_cast<SqliteDb*>(self);
  if (action != SQLITE_TRANSACTION) return SQLITE_OK;
  db->prepared_transaction_control_ = true;
  return db->transaction_guard_ ? SQLITE_DENY : SQLITE_OK;
}

Statement SqliteDb::PrepareUncached(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  prepared_transaction_control_ = false;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return Statement(SqliteStatus(rc, "prepare [" + std::string(sql) + "]", sqlite3_errmsg(db_)));
  }
  if (stmt == nullptr) {  // Only whitespace or comments: nothing to run.
    return Statement(Status(Errc::kMisuse, "prepare: empty statement"));
  }
  return Statement(db_, stmt);
}

StatementLease SqliteDb::Prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    if (cache_.size() >= options_.statement_cache_capacity) {
      return StatementLease(PrepareUncached(sql));
    }
    Statement statement = PrepareUncached(sql);
    // Do not cache a failed prepare: the error may be transient (schema not yet migrated).
    if (!statement.valid()) return StatementLease(std::move(statement));
    auto entry = std::make_unique<CacheEntry>();
    entry->statement = std::move(statement);
    entry->transaction_control = prepared_transaction_control_;
    it = cache_.emplace(std::string(sql), std::move(entry)).first;
  }
  CacheEntry& entry = *it->second;
  if (transaction_guard_ && entry.transaction_control) {
    return StatementLease(Statement(
        Status(Errc::kMisuse, SQLITE_AUTH,
               "transaction control is not allowed inside a job [" + std::string(sql) + "]")));
  }
  if (entry.in_use) return StatementLease(PrepareUncached(sql));
  entry.in_use = true;
  return StatementLease(&entry.statement, &entry.in_use);
}

Status SqliteDb::Exec(std::string_view sql) {
  std::string text(sql);  // sqlite3_exec needs a terminated string.
  char* error = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  Status status;
  if (rc != SQLITE_OK) {
    status = SqliteStatus(rc, "exec", error != nullptr ? error : sqlite3_errstr(rc));
  }
  sqlite3_free(error);
  return status;
}

Result<int64_t> SqliteDb::QueryInt64(std::string_view sql) {
  StatementLease query = Prepare(sql);
  switch (query->Step()) {
    case StepResult::kRow:
      return query->ColumnInt64(0);
    case StepResult::kDone:
      return Status(Errc::kMisuse, "query returned no row [" + std::string(sql) + "]");
    case StepResult::kError:
      break;
  }
  return query->status();
}

Status SqliteDb::SetCacheSize(std::string_view schema) {
  // PRAGMAs take no parameters; the schema name and the value are ours.
  return Exec("PRAGMA " + std::string(schema) + ".cache_size = -" +
              std::to_string(options_.cache_kib));
}

Status SqliteDb::BeginImmediate() { return Run("BEGIN IMMEDIATE"); }
Status SqliteDb::BeginDeferred() { return Run("BEGIN DEFERRED"); }
Status SqliteDb::Commit() { return Run("COMMIT"); }
Status SqliteDb::Rollback() { return Run("ROLLBACK"); }

Status SqliteDb::Savepoint(std::string_view name) { return Run("SAVEPOINT " + std::string(name)); }
Status SqliteDb::ReleaseSavepoint(std::string_view name) {
  return Run("RELEASE " + std::string(name));
}
Status SqliteDb::RollbackToSavepoint(std::string_view name) {
  return Run("ROLLBACK TO " + std::string(name));
}

}  // namespace ringcast::storage
