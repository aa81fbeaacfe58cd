// SqliteChatStore (sqlite_chat_store.h): opening it, accounts and its metrics; its other operations
// are in files of their own by purpose (storage/README.md).
#include "storage/sqlite_chat_store.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "storage/store_metrics.h"

namespace ringcast::storage {

Result<std::unique_ptr<SqliteChatStore>> SqliteChatStore::Open(const ExecutorOptions& options,
                                                               uint32_t recent_cids,
                                                               SearchIndexOptions search) {
  if (search.path.empty()) {
    search.path = (std::filesystem::path(options.db.path).parent_path() / "search.db").string();
  }
  search.chat_path = options.db.path;
  if (search.log == nullptr) search.log = options.log;
  // search.db first: the readers attach it as they open.
  Result<std::unique_ptr<SqliteSearchIndex>> index = SqliteSearchIndex::Open(search);
  if (!index.ok()) return index.status();
  ExecutorOptions with_index = options;
  with_index.reader_attach.emplace_back("search", search.path);
  Result<std::unique_ptr<BatchExecutor>> executor = BatchExecutor::Start(with_index);
  if (!executor.ok()) return executor.status();
  std::unique_ptr<SqliteChatStore> store(new SqliteChatStore(
      std::move(*executor), std::max<uint32_t>(recent_cids, kCidMergeChunk), std::move(*index)));
  if (Status s = store->LoadRecentCids(); !s.ok()) return s;
  // chat.db has its final schema now (the executor migrated it).
  if (Status s = store->search_index_->Start(); !s.ok()) return s;
  return store;
}

SqliteChatStore::~SqliteChatStore() { executor_->Stop(); }

void SqliteChatStore::CreateUser(std::string username, std::string password_hash, int64_t now,
                                 Reply<std::pair<Denial, int64_t>> reply) {
  Submit<std::pair<Denial, int64_t>>(
      Kind::kWrite,
      [username = std::move(username), password_hash = std::move(password_hash), now](
          SqliteDb& db, std::pair<Denial, int64_t>& out) {
        auto stmt = db.Prepare(
            "INSERT INTO users(username, password_hash, created_at) VALUES (?1, ?2, ?3) "
            "ON CONFLICT(username) DO NOTHING RETURNING id");
        stmt->Bind(username, password_hash, now);
        out = {Denial::kTaken, 0};
        return ForEachSqliteRow(*stmt, [&](Statement& row) {
          out = {Denial::kNone, row.ColumnInt64(0)};
        });
      },
      std::move(reply));
}

void SqliteChatStore::FindLogin(std::string username, Reply<std::optional<UserLogin>> reply) {
  Submit<std::optional<UserLogin>>(
      Kind::kRead,
      [username = std::move(username)](SqliteDb& db, std::optional<UserLogin>& out) {
        auto stmt =
            db.Prepare("SELECT id, password_hash, created_at FROM users WHERE username = ?1");
        stmt->Bind(username);
        return ForEachSqliteRow(*stmt, [&](Statement& row) {
          out = UserLogin{row.ColumnInt64(0), std::string(row.ColumnText(1)), row.ColumnInt64(2)};
        });
      },
      std::move(reply));
}

void SqliteChatStore::RevokeToken(std::string jti, int64_t expires_at_ms, Reply<bool> reply) {
  Submit<bool>(
      Kind::kWrite,
      [jti = std::move(jti), expires_at_ms](SqliteDb& db, bool& out) {
        // Expired entries can never matter again (the token fails its own expiry check).
        Status s = db.Run(
            "DELETE FROM revoked_tokens WHERE expires_at < "
            "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)");
        if (!s.ok()) return s;
        out = true;
        return db.Run(
            "INSERT INTO revoked_tokens(jti, expires_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            jti, expires_at_ms);
      },
      std::move(reply));
}

void SqliteChatStore::LoadRevoked(int64_t now, Reply<std::vector<RevokedToken>> reply) {
  Submit<std::vector<RevokedToken>>(
      Kind::kRead,
      [now](SqliteDb& db, std::vector<RevokedToken>& out) {
        auto stmt = db.Prepare("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > ?1");
        stmt->Bind(now);
        return ForEachSqliteRow(*stmt, [&](Statement& row) {
          out.push_back(RevokedToken{std::string(row.ColumnText(0)), row.ColumnInt64(1)});
        });
      },
      std::move(reply));
}

void SqliteChatStore::SetLastOnline(int64_t user, int64_t ts, Reply<bool> reply) {
  SubmitStatement(Kind::kWrite, Answer::kRan,
                  "UPDATE users SET last_online = max(coalesce(last_online, 0), ?2) WHERE id = ?1",
                  std::move(reply), user, ts);
}

void SqliteChatStore::SearchUsers(std::string prefix, uint32_t limit,
                                  Reply<std::vector<UserMatch>> reply) {
  Submit<std::vector<UserMatch>>(
      Kind::kRead,
      [prefix = std::move(prefix), limit](SqliteDb& db, std::vector<UserMatch>& out) {
        const std::optional<UsernameRange> range = UsernamePrefixRange(prefix);
        if (!range) return Status();
        // The column is COLLATE NOCASE, so these comparisons and the order are NOCASE's, and
        // its UNIQUE index serves them as one range scan in order (schema_test.cc).
        auto stmt = db.Prepare(
            "SELECT id, username FROM users WHERE username >= ?1 AND username < ?2 "
            "ORDER BY username LIMIT ?3");
        stmt->Bind(range->low, range->high, limit);
        return ForEachSqliteRow(*stmt, [&](Statement& row) {
          out.push_back(UserMatch{row.ColumnInt64(0), std::string(row.ColumnText(1))});
        });
      },
      std::move(reply));
}

void SqliteChatStore::FindUsers(std::vector<int64_t> ids, Reply<std::vector<UserMatch>> reply) {
  Submit<std::vector<UserMatch>>(
      Kind::kRead,
      [ids = std::move(ids)](SqliteDb& db, std::vector<UserMatch>& out) {
        std::set<int64_t> wanted(ids.begin(), ids.end());  // Ordered and without repeats.
        // One primary-key lookup per id (a prepared statement is cached by its text).
        auto stmt = db.Prepare("SELECT username FROM users WHERE id = ?1");
        for (int64_t id : wanted) {
          stmt->Reset();
          stmt->Bind(id);
          Status s = ForEachSqliteRow(*stmt, [&](Statement& row) {
            out.push_back(UserMatch{id, std::string(row.ColumnText(0))});
          });
          if (!s.ok()) return s;
        }
        return Status();
      },
      std::move(reply));
}

void SqliteChatStore::CollectMetrics(MetricSet& out) const {
  const ExecutorStats stats = executor_->stats();
  CollectStoreMetrics({.backend = "sqlite",
                       .up = Healthy(),
                       .batches = stats.batches,
                       .jobs = stats.write_jobs,
                       .failed_jobs = stats.failed_write_jobs + stats.failed_read_jobs,
                       .rejected = stats.rejected,
                       .refused_wait = stats.refused_wait,
                       .write_wait_estimate = stats.write_wait_estimate,
                       .write_rate = stats.write_rate,
                       .queued_writes = stats.queued_writes,
                       .queued_reads = stats.queued_reads},
                      executor_->batch_sizes(), executor_->commit_seconds(),
                      executor_->queue_wait_seconds(), out);
  WalFigures wal{.file_bytes = stats.wal_file_bytes,
                 .frames = stats.wal_frames,
                 .pending = stats.wal_frames - stats.wal_backfilled,
                 .frame_bytes = stats.page_size + 24,
                 .written_bytes = stats.wal_written_bytes,
                 .restarts = stats.wal_restarts,
                 .over_bound = stats.wal_over_bound,
                 .refused_writes = stats.wal_refused_writes,
                 .bound_bytes = executor_->options().wal_bound_bytes,
                 .hard_cap_bytes = executor_->options().wal_hard_cap_bytes};
  std::memcpy(wal.checkpoints, stats.checkpoint_results, sizeof wal.checkpoints);
  CollectWalMetrics(wal, executor_->writer_held_seconds(), out);
  out.Gauge("ringcast_store_recent_cids",
            "Cids of the newest messages held in memory, not yet merged into message_cids",
            double(recent_cids_.size()));
  out.Counter("ringcast_store_cids_merged_total", "Cids merged into message_cids in bulk",
              double(cids_merged_.load(std::memory_order_relaxed)));
  const SearchIndexStats index = search_index_->stats();
  out.Gauge("ringcast_store_search_index_lag_messages",
            "Message ids committed to chat.db and not yet in the search index (search.db)",
            double(std::max<int64_t>(0, index.appended_upto - index.indexed_upto)));
  out.Counter("ringcast_store_search_index_passes_total",
              "Transactions of the search index thread that added messages", double(index.passes));
  out.Counter("ringcast_store_search_index_failed_passes_total",
              "Search index passes that failed (retried a second later)",
              double(index.failed_passes));
  out.Counter("ringcast_store_search_index_rebuilds_total",
              "Times search.db was emptied because it was built from another chat database",
              double(index.rebuilds));
  out.Counter("ringcast_store_search_waits_total",
              "Searches that waited for the index to hold the messages committed before them",
              double(index.waits));
  out.Counter("ringcast_store_search_stale_total",
              "Searches that ran before the index held them (--search-fresh-wait-ms passed, or "
              "too many waited)",
              double(index.stale_answers));
}

}  // namespace ringcast::storage
