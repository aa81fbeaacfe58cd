// SqliteSearchIndex: the SQLite store's message search index, in a database file of its own
// (search.db beside chat.db), kept by a thread of its own ("store-index") that reads new
// messages from chat.db (storage/SCHEMA.md, "Search").
//
// Why apart from chat.db: FTS5 tokenizes every message and writes and merges index segments.
// Done by the chat writer, in the appends' transactions or in a job at the head of their
// batches, it delayed the acks of the batch behind it and cost chat-1k a quarter of its
// persisted msgs/s (bench/README.md, "Search"). Here no append waits for it, and the thread runs
// at a lower CPU priority (nice +10): under overload the appends go first and the index falls
// behind, then catches up when the load drops. The index is derived data: search.db can be
// deleted, and is rebuilt from chat.db when it does not match it.
//
// Threads:
//   - The index thread owns the read-write connection (search.db, with chat.db attached as
//     `chat`). A pass reads the rows above its watermark from chat.db in short read
//     transactions (kReadRows each), then adds the new messages and re-indexes the targets of
//     the edits and deletions among them in one transaction of search.db with the watermark, at
//     most kPassRows ids or about kPassBytes of text at a time.
//   - NoteAppended(), WhenIndexed(), stats() and Stop() may be called from any thread and never
//     wait for I/O (a short mutex at most). The chat store's reader threads read search.db
//     through their own connections (attached as `search`).
//
// Freshness: a pass runs `interval_ms` after an append was committed (0: at once), and at once
// when a search asks for messages the index does not hold yet (WhenIndexed): a search waits for
// the messages committed before it, up to `fresh_wait_ms`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "storage/sqlite_db.h"
#include "storage/status.h"
#include "storage/unique_function.h"

namespace ringcast::storage {

struct SearchIndexOptions {
  std::string path;            // search.db, created when missing.
  std::string chat_path;       // chat.db, at the schema version without the index (16 and later).
  uint32_t interval_ms = 200;  // --search-index-interval-ms
  uint32_t fresh_wait_ms = 1000;  // --search-fresh-wait-ms
  uint32_t cache_kib = 8 * 1024;  // --store-cache-mib: for search.db and for chat.db, each.
  // Searches waiting for a pass at most; past it a search runs at once on what is indexed.
  size_t max_waiters = 4096;
  void (*log)(bool warning, const std::string& line) = nullptr;
};

struct SearchIndexStats {
  int64_t indexed_upto = 0;   // Every message id up to this one is indexed.
  int64_t appended_upto = 0;  // The newest message id the store committed, as far as known.
  uint64_t passes = 0;
  uint64_t failed_passes = 0;
  uint64_t rebuilds = 0;       // search.db emptied because it did not match chat.db.
  uint64_t waits = 0;          // Searches that waited for a pass.
  uint64_t stale_answers = 0;  // ... and ran before the index held what they waited for.
};

class SqliteSearchIndex {
 public:
  // Message ids one pass takes at most (one transaction of search.db), and the text it holds
  // in memory meanwhile (at least one message's, however long).
  static constexpr int64_t kPassRows = 20'000;
  static constexpr size_t kPassBytes = 8 << 20;
  // Message ids one read transaction of chat.db takes at most.
  static constexpr int64_t kReadRows = 1'000;
  // The CPU priority of the index thread (setpriority): below the shards and the chat writer.
  static constexpr int kNice = 10;

  // Creates search.db and its tables when missing, so that the chat store's readers can attach
  // it; reads nothing of chat.db yet (it may still be migrating).
  static Result<std::unique_ptr<SqliteSearchIndex>> Open(const SearchIndexOptions& options);
  ~SqliteSearchIndex();
  SqliteSearchIndex(const SqliteSearchIndex&) = delete;
  SqliteSearchIndex& operator=(const SqliteSearchIndex&) = delete;

  // Attaches chat.db, empties the index if it was built from another chat.db (or a copy of
  // this one from before messages it holds), and starts the thread.
  Status Start();
  // Stops the thread after its current pass; waiting searches are let go at once. Idempotent.
  void Stop();
  // Tests and tools, before Start() or instead of it: attaches chat.db and runs passes on the
  // caller's thread until every message is indexed.
  Status CatchUp();

  // A message with id `id` was committed to chat.db.
  void NoteAppended(int64_t id);
  // Calls `then` once every message up to `id` is indexed, or after fresh_wait_ms, or at once
  // when too many wait or the index is stopped; on the index thread or the caller's.
  void WhenIndexed(int64_t id, UniqueFunction<void()> then);

  SearchIndexStats stats() const;

 private:
  explicit SqliteSearchIndex(const SearchIndexOptions& options, std::unique_ptr<SqliteDb> db);

  struct Waiter {
    int64_t id;
    std::chrono::steady_clock::time_point added_at;
    std::chrono::steady_clock::time_point deadline;
    UniqueFunction<void()> then;
  };

  // What a pass writes, by key: the body to index (none: only taken out), and whether an
  // earlier pass may have indexed it (then it is taken out first).
  struct Op {
    std::optional<std::string> body;
    bool maybe_indexed = false;
  };
  struct PassBatch {
    std::map<int64_t, Op> ops;
    int64_t read_upto = 0;  // Every id up to this one is read.
    size_t bytes = 0;
  };

  Status Attach();
  Status RebuildIfForeign();
  // Attach, RebuildIfForeign, then the watermark into stats_.
  Status LoadProgress();
  // One read transaction of chat.db: the rows of (from, upto] into `batch`.
  Status ReadChunk(int64_t from, int64_t upto, PassBatch& batch);
  // One transaction of search.db: up to kPassRows ids above the watermark. `more`: ids are left.
  Status Pass(bool& more);
  Status PassesUntilCaughtUp();
  void Loop();
  // Calls the waiters that are satisfied (or, with `all`, every one); takes mu_ itself.
  void ReleaseWaiters(bool all);

  const SearchIndexOptions options_;
  std::unique_ptr<SqliteDb> db_;  // The index thread's (or CatchUp's caller's).
  bool attached_ = false;
  std::string chat_identity_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool started_ = false;
  // An append since the last pass began, and when the first of them was noted.
  bool appended_ = false;
  std::chrono::steady_clock::time_point appended_at_;
  std::vector<Waiter> waiters_;
  SearchIndexStats stats_;
  std::thread thread_;
};

}  // namespace ringcast::storage
