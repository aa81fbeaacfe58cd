#include "storage/sqlite_search_index.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
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

// The targets of the edits and deletions in (?1, ?2] leave the index...
constexpr const char* kUnindexChangedSql =
    "DELETE FROM messages_fts WHERE rowid IN (SELECT (conversation_id << 32) | target "
    "FROM chat.messages WHERE id > ?1 AND id <= ?2 AND kind IN ('edit', 'delete'))";
// ... and an edited one that an earlier pass had indexed comes back with its current body (the
// others are added below, as they are now).
constexpr const char* kReindexEditedSql =
    "INSERT INTO messages_fts(rowid, body) SELECT (t.conversation_id << 32) | t.seq, t.body "
    "FROM chat.messages t WHERE t.id <= ?1 AND t." RINGCAST_ORDINARY_KIND_SQL
    " AND t.deleted_at IS NULL AND t.id IN (SELECT e.id FROM chat.messages c "
    "JOIN chat.messages e ON e.conversation_id = c.conversation_id AND e.seq = c.target "
    "WHERE c.id > ?1 AND c.id <= ?2 AND c.kind = 'edit')";
// New messages, in their current state: one edited before this pass is added with its new
// body, a deleted one not at all.
constexpr const char* kIndexNewSql =
    "INSERT INTO messages_fts(rowid, body) SELECT (conversation_id << 32) | seq, body "
    "FROM chat.messages WHERE id > ?1 AND id <= ?2 AND " RINGCAST_ORDINARY_KIND_SQL
    " AND deleted_at IS NULL";

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
    for (const char* sql :
         {"DROP TABLE IF EXISTS messages_fts", "DROP TABLE IF EXISTS search_progress", kCreateSql,
          "PRAGMA user_version = 1"}) {
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
  auto attach = db_->Prepare("ATTACH DATABASE ?1 AS chat");
  attach->BindText(1, options_.chat_path);
  if (Status s = attach->Exec(); !s.ok()) return s;
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
    auto start =
        db_->Prepare("INSERT INTO search_progress(indexed_upto, chat_identity) VALUES (0, ?1)");
    start->BindText(1, chat_identity_);
    s = start->Exec();
  }
  if (!s.ok()) {
    (void)db_->Rollback();
    return s;
  }
  return db_->Commit();
}

Status SqliteSearchIndex::Pass(bool& more) {
  more = false;
  // Deferred: chat.db is only read (a snapshot, which never holds its writer back); search.db
  // takes its write lock at the first write.
  if (Status s = db_->BeginDeferred(); !s.ok()) return s;
  Status s;
  Result<int64_t> from = db_->QueryInt64("SELECT indexed_upto FROM search_progress");
  Result<int64_t> newest = db_->QueryInt64("SELECT coalesce(max(id), 0) FROM chat.messages");
  if (!from.ok() || !newest.ok()) {
    (void)db_->Rollback();
    return from.ok() ? newest.status() : from.status();
  }
  const int64_t upto = std::min(*newest, *from + kPassRows);
  more = upto < *newest;
  if (upto > *from) {
    for (const char* sql : {kUnindexChangedSql, kReindexEditedSql, kIndexNewSql,
                            "UPDATE search_progress SET indexed_upto = ?2"}) {
      auto stmt = db_->Prepare(sql);
      if (std::string_view(sql).find("?1") != std::string_view::npos) stmt->BindInt64(1, *from);
      stmt->BindInt64(2, upto);
      if (s = stmt->Exec(); !s.ok()) break;
    }
  }
  if (!s.ok()) {
    (void)db_->Rollback();
    return s;
  }
  if (s = db_->Commit(); !s.ok()) return s;
  std::lock_guard lock(mu_);
  stats_.indexed_upto = upto;
  stats_.appended_upto = std::max(stats_.appended_upto, upto);
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
  if (Status s = Attach(); !s.ok()) return s;
  if (Status s = RebuildIfForeign(); !s.ok()) return s;
  return PassesUntilCaughtUp();
}

Status SqliteSearchIndex::Start() {
  if (Status s = Attach(); !s.ok()) return s;
  if (Status s = RebuildIfForeign(); !s.ok()) return s;
  Result<int64_t> indexed = db_->QueryInt64("SELECT indexed_upto FROM search_progress");
  if (!indexed.ok()) return indexed.status();
  Result<int64_t> newest = db_->QueryInt64("SELECT coalesce(max(id), 0) FROM chat.messages");
  if (!newest.ok()) return newest.status();
  std::lock_guard lock(mu_);
  stats_.indexed_upto = *indexed;
  stats_.appended_upto = std::max({stats_.appended_upto, *indexed, *newest});
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
