#include "storage/sqlite_search_index.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>

#include "storage/message_kinds.h"
#include "storage/sqlite_job.h"

namespace ringcast::storage {
namespace {

// The user_version of search.db; a file with another one is emptied and built again.
constexpr int64_t kIndexVersion = 1;

// A regular (not contentless) FTS5 table: it keeps the text it indexed, which is what FTS5
// needs to take a message out again once chat.db has overwritten the body (an edit) or blanked
// it (a deletion). The rowid is (conversation_id << 32) | seq (sqlite_search_store.cc).
constexpr const char* kCreateSql = R"sql(
CREATE TABLE IF NOT EXISTS search_progress (
  indexed_upto INTEGER NOT NULL,
  chat_identity TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
  body, tokenize='unicode61 remove_diacritics 2');
)sql";

// chat.db's identity: when its schema was first created. A search.db built from another file
// (a chat.db deleted and started again, or restored from a backup) must not keep its rows.
constexpr const char* kChatIdentitySql =
    "SELECT value FROM chat.meta WHERE key = 'schema_v1_applied_at'";

// The rows of (?1, ?2]: each one's key, whether it is an edit or a deletion (then `target`
// names the message it changes), and the body of one that search keeps (ordinary, not deleted:
// an edit or a deletion that came before this read is already in the row).
constexpr const char* kReadRowsSql =
    "SELECT id, (conversation_id << 32) | seq, kind IN ('edit', 'delete'), conversation_id, "
    "target, CASE WHEN " RINGCAST_SEARCHED_KIND_SQL
    " AND deleted_at IS NULL THEN body END "
    "FROM chat.messages WHERE id > ?1 AND id <= ?2 ORDER BY id";
// A changed message as it is now: its body if search keeps it, else NULL.
constexpr const char* kReadTargetSql = "SELECT CASE WHEN " RINGCAST_SEARCHED_KIND_SQL
                                       " AND deleted_at IS NULL THEN body END "
                                       "FROM chat.messages WHERE conversation_id = ?1 AND seq = ?2";

void Log(const SearchIndexOptions& options, bool warning, const std::string& line) {
  if (options.log != nullptr) {
    options.log(warning, line);
  } else {
    fprintf(stderr, "%s\n", line.c_str());
  }
}

}  // namespace

Result<std::unique_ptr<SqliteSearchIndex>> SqliteSearchIndex::Open(
    const SearchIndexOptions& options) {
  Result<std::unique_ptr<SqliteDb>> db =
      SqliteDb::Open(DbOptions{.path = options.path,
                               .synchronous = Synchronous::kNormal,  // Rebuilt if lost.
                               .cache_kib = options.cache_kib});
  if (!db.ok()) return db.status();
  Result<int64_t> version = (*db)->QueryInt64("PRAGMA user_version");
  if (!version.ok()) return version.status();
  if (*version != kIndexVersion) {
    // Another layout (or an empty file): started over, as everything in it is derived.
    for (const std::string& sql :
         {std::string("DROP TABLE IF EXISTS messages_fts"),
          std::string("DROP TABLE IF EXISTS search_progress"), std::string(kCreateSql),
          "PRAGMA user_version = " + std::to_string(kIndexVersion)}) {
      if (Status s = (*db)->Exec(sql); !s.ok()) return s;
    }
  }
  return std::unique_ptr<SqliteSearchIndex>(new SqliteSearchIndex(options, std::move(*db)));
}

SqliteSearchIndex::SqliteSearchIndex(const SearchIndexOptions& options,
                                     std::unique_ptr<SqliteDb> db)
    : options_(options), db_(std::move(db)) {}

SqliteSearchIndex::~SqliteSearchIndex() { Stop(); }

Status SqliteSearchIndex::Attach() {
  if (attached_) return Status();
  if (Status s = db_->Run("ATTACH DATABASE ?1 AS chat", options_.chat_path); !s.ok()) return s;
  if (Status s = db_->SetCacheSize("chat"); !s.ok()) return s;
  attached_ = true;
  auto identity = db_->Prepare(kChatIdentitySql);
  return ForEachSqliteRow(*identity,
                          [&](Statement& row) { chat_identity_ = std::string(row.ColumnText(0)); });
}

Status SqliteSearchIndex::RebuildIfForeign() {
  if (Status s = db_->BeginDeferred(); !s.ok()) return s;
  std::optional<std::string> identity;
  int64_t indexed_upto = 0;
  auto progress = db_->Prepare("SELECT indexed_upto, chat_identity FROM search_progress");
  Status s = ForEachSqliteRow(*progress, [&](Statement& row) {
    indexed_upto = row.ColumnInt64(0);
    identity = std::string(row.ColumnText(1));
  });
  Result<int64_t> newest = db_->QueryInt64("SELECT coalesce(max(id), 0) FROM chat.messages");
  if (!s.ok() || !newest.ok()) {
    (void)db_->Rollback();
    return s.ok() ? newest.status() : s;
  }
  const bool foreign = identity && (*identity != chat_identity_ || indexed_upto > *newest);
  if (identity && !foreign) return db_->Commit();
  if (foreign) {
    Log(options_, true,
        "search index " + options_.path + " was built from another chat database: rebuilding it");
    for (const char* sql : {"DROP TABLE messages_fts", "DELETE FROM search_progress"}) {
      if (s = db_->Exec(sql); !s.ok()) break;
    }
    if (s.ok()) s = db_->Exec(kCreateSql);
    std::lock_guard lock(mu_);
    ++stats_.rebuilds;
  }
  if (s.ok()) {
    s = db_->Run("INSERT INTO search_progress(indexed_upto, chat_identity) VALUES (0, ?1)",
                 chat_identity_);
  }
  if (!s.ok()) {
    (void)db_->Rollback();
    return s;
  }
  return db_->Commit();
}

Status SqliteSearchIndex::ReadChunk(int64_t from, int64_t upto, PassBatch& batch) {
  // A read transaction of chat.db alone, kept short: a snapshot held while this thread (at a
  // lower priority) waits for the CPU would hold back the chat checkpointer's WAL restarts, and
  // with them the chat writer.
  if (Status s = db_->BeginDeferred(); !s.ok()) return s;
  struct Change {
    int64_t key, conv, seq;
  };
  std::vector<Change> changes;
  auto rows = db_->Prepare(kReadRowsSql);
  rows->Bind(from, upto);
  Status s = ForEachSqliteRow(*rows, [&](Statement& row) {
    batch.read_upto = row.ColumnInt64(0);
    if (row.ColumnInt64(2) != 0) {
      const int64_t conv = row.ColumnInt64(3), seq = row.ColumnInt64(4);
      changes.push_back({(conv << 32) | seq, conv, seq});
    } else if (!row.ColumnIsNull(5)) {
      std::string_view body = row.ColumnText(5);
      batch.bytes += body.size();
      batch.ops.insert_or_assign(row.ColumnInt64(1), Op{std::string(body), false});
    }
  });
  auto target = db_->Prepare(kReadTargetSql);
  for (const Change& change : changes) {
    if (!s.ok()) break;
    target->Reset();
    target->Bind(change.conv, change.seq);
    std::optional<std::string> body;
    s = ForEachSqliteRow(*target, [&](Statement& row) {
      if (!row.ColumnIsNull(0)) body = std::string(row.ColumnText(0));
    });
    if (body) batch.bytes += body->size();
    // Indexed by an earlier pass, or not: it is taken out first either way.
    batch.ops.insert_or_assign(change.key, Op{std::move(body), true});
  }
  if (s.ok()) {
    batch.read_upto = upto;  // The ids of (from, upto] that have no row were never committed.
    return db_->Commit();
  }
  (void)db_->Rollback();
  return s;
}

Status SqliteSearchIndex::Pass(bool& more) {
  more = false;
  Result<int64_t> newest = db_->QueryInt64("SELECT coalesce(max(id), 0) FROM chat.messages");
  if (!newest.ok()) return newest.status();
  int64_t from;
  {
    std::lock_guard lock(mu_);
    from = stats_.indexed_upto;
  }
  // Read in short chunks, written in one transaction: FTS5 writes a segment per transaction,
  // and many small ones cost more to write and to merge.
  PassBatch batch;
  batch.read_upto = from;
  while (batch.read_upto < *newest && batch.read_upto - from < kPassRows &&
         batch.bytes < kPassBytes) {
    const int64_t upto = std::min({*newest, batch.read_upto + kReadRows, from + kPassRows});
    if (Status s = ReadChunk(batch.read_upto, upto, batch); !s.ok()) return s;
  }
  more = batch.read_upto < *newest;
  if (batch.read_upto == from) return Status();

  // Deferred: the first write takes search.db's write lock, never chat.db's.
  if (Status s = db_->BeginDeferred(); !s.ok()) return s;
  auto remove = db_->Prepare("DELETE FROM messages_fts WHERE rowid = ?1");
  auto insert = db_->Prepare("INSERT INTO messages_fts(rowid, body) VALUES (?1, ?2)");
  Status s;
  for (const auto& [key, op] : batch.ops) {
    if (op.maybe_indexed) {
      remove->Reset();
      if (s = remove->Bind(key).Exec(); !s.ok()) break;
    }
    if (op.body) {
      insert->Reset();
      if (s = insert->Bind(key, *op.body).Exec(); !s.ok()) break;
    }
  }
  if (s.ok()) s = db_->Run("UPDATE search_progress SET indexed_upto = ?1", batch.read_upto);
  if (!s.ok()) {
    (void)db_->Rollback();
    return s;
  }
  if (s = db_->Commit(); !s.ok()) return s;
  std::lock_guard lock(mu_);
  stats_.indexed_upto = batch.read_upto;
  stats_.appended_upto = std::max(stats_.appended_upto, batch.read_upto);
  ++stats_.passes;
  return Status();
}

Status SqliteSearchIndex::PassesUntilCaughtUp() {
  for (bool more = true; more;) {
    if (Status s = Pass(more); !s.ok()) return s;
    ReleaseWaiters(false);
    std::lock_guard lock(mu_);
    if (stopping_) break;
  }
  return Status();
}

Status SqliteSearchIndex::CatchUp() {
  if (Status s = LoadProgress(); !s.ok()) return s;
  return PassesUntilCaughtUp();
}

Status SqliteSearchIndex::LoadProgress() {
  if (Status s = Attach(); !s.ok()) return s;
  if (Status s = RebuildIfForeign(); !s.ok()) return s;
  Result<int64_t> indexed = db_->QueryInt64("SELECT indexed_upto FROM search_progress");
  if (!indexed.ok()) return indexed.status();
  Result<int64_t> newest = db_->QueryInt64("SELECT coalesce(max(id), 0) FROM chat.messages");
  if (!newest.ok()) return newest.status();
  std::lock_guard lock(mu_);
  stats_.indexed_upto = *indexed;
  stats_.appended_upto = std::max({stats_.appended_upto, *indexed, *newest});
  return Status();
}

Status SqliteSearchIndex::Start() {
  if (Status s = LoadProgress(); !s.ok()) return s;
  std::lock_guard lock(mu_);
  // What an earlier run committed and did not index, or all of chat.db after a rebuild.
  appended_ = true;
  appended_at_ = std::chrono::steady_clock::now();
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
  return Status();
}

void SqliteSearchIndex::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  ReleaseWaiters(true);
}

void SqliteSearchIndex::NoteAppended(int64_t id) {
  std::lock_guard lock(mu_);
  stats_.appended_upto = std::max(stats_.appended_upto, id);
  if (appended_ || stopping_) return;
  appended_ = true;
  appended_at_ = std::chrono::steady_clock::now();
  wake_.notify_one();  // The thread sleeps until it knows a pass is due.
}

void SqliteSearchIndex::WhenIndexed(int64_t id, UniqueFunction<void()> then) {
  {
    std::unique_lock lock(mu_);
    if (stats_.indexed_upto >= id) {
      lock.unlock();
      then();
      return;
    }
    ++stats_.waits;
    if (started_ && !stopping_ && waiters_.size() < options_.max_waiters) {
      const auto now = std::chrono::steady_clock::now();
      waiters_.push_back(Waiter{.id = id,
                                .added_at = now,
                                .deadline = now + std::chrono::milliseconds(options_.fresh_wait_ms),
                                .then = std::move(then)});
      lock.unlock();
      wake_.notify_one();
      return;
    }
    ++stats_.stale_answers;
  }
  then();
}

void SqliteSearchIndex::ReleaseWaiters(bool all) {
  std::vector<UniqueFunction<void()>> ready;
  {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(waiters_, [&](Waiter& w) {
      const bool indexed = w.id <= stats_.indexed_upto;
      if (!all && !indexed && w.deadline > now) return false;
      if (!indexed) ++stats_.stale_answers;
      ready.push_back(std::move(w.then));
      return true;
    });
  }
  for (UniqueFunction<void()>& then : ready) then();
}

SearchIndexStats SqliteSearchIndex::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void SqliteSearchIndex::Loop() {
  pthread_setname_np(pthread_self(), "store-index");
  // Per thread on Linux: the index yields the CPU to the appends that feed it.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kNice);
  const auto interval = std::chrono::milliseconds(options_.interval_ms);
  const auto retry = std::chrono::seconds(1);
  auto failed_at = std::chrono::steady_clock::time_point::min();
  auto last_pass_at = std::chrono::steady_clock::time_point::min();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const auto now = std::chrono::steady_clock::now();
    auto due = std::chrono::steady_clock::time_point::max();
    if (appended_) due = appended_at_ + interval;
    for (const Waiter& w : waiters_) {
      // A search waits: a pass at once, unless the last one began after it asked (then it
      // waits for an append's pass or its deadline).
      due = std::min(due, w.added_at > last_pass_at ? now : w.deadline);
    }
    due = std::max(due, failed_at + retry);  // After a failure, a pause before the next try.
    if (now < due) {
      if (due == std::chrono::steady_clock::time_point::max()) {
        wake_.wait(lock);
      } else {
        wake_.wait_until(lock, due);
      }
      continue;
    }
    appended_ = false;  // An append committed from here on asks for the next pass.
    last_pass_at = now;
    lock.unlock();
    Status s = PassesUntilCaughtUp();
    if (!s.ok()) {
      Log(options_, true, "search index: a pass failed, retrying in 1 s: " + s.ToString());
      failed_at = std::chrono::steady_clock::now();
    }
    ReleaseWaiters(false);
    lock.lock();
    if (!s.ok()) {
      ++stats_.failed_passes;
      appended_ = true;  // Nothing of it was kept: the same ids are tried again.
    }
  }
}

}  // namespace ringcast::storage
