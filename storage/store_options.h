// The chat store's options (storage/README.md): where it lives (SQLite in --data-dir, or the
// PostgreSQL of --database-url), how writes are batched and paced, and SQLite's WAL bounds;
// the flags that set them are in store_flags.cc, the store they open in store_factory.h.
#pragma once

#include <cstdint>
#include <string>

namespace ringcast {
class FlagRegistry;
}  // namespace ringcast

namespace ringcast::storage {

struct StoreOptions {
  // The node's own state: the SQLite store, the signing secret, the node id, the VAPID key.
  std::string data_dir = "./ringcast-data";
  uint32_t batch_max = 256;
  // Store jobs waiting to run (SQLite: writes and reads each; PostgreSQL: all lanes together);
  // past it a request is answered `unavailable` at once instead of waiting behind seconds of work.
  uint32_t max_store_queue = 65536;
  // Writes that would wait longer than this before they run are answered `unavailable` at once
  // (storage/README.md, "Overload: a bound on waiting"); 0: bounded by count only.
  uint32_t max_store_wait_ms = 1000;
  uint32_t batch_delay_us = 0;
  uint32_t commit_interval_us = 1000;  // SQLite: commit pacing under load.
  std::string synchronous = "full";
  uint32_t store_cache_mib = 32;  // SQLite page cache per store connection.
  // SQLite's WAL (storage/README.md, "Keeping the WAL small"): started over (writes held for a
  // RESTART checkpoint) at half the bound, a warning past it; writes refused past the hard cap
  // (0: never); after this long without a write the WAL is truncated (0: never); how long a
  // RESTART waits for readers.
  uint32_t wal_bound_mib = 256;
  uint32_t wal_hard_cap_mib = 1024;
  uint32_t wal_idle_checkpoint_ms = 1000;
  uint32_t wal_restart_wait_ms = 100;
  uint32_t sqlite_page_size = 1024;         // Of a database file ringcast creates.
  uint32_t sqlite_recent_cids = 32768;      // storage::SqliteChatStore::kDefaultRecentCids.
  uint32_t search_index_interval_ms = 200;  // SQLite: new messages join the search index.
  uint32_t search_fresh_wait_ms = 1000;     // SQLite: a search waits for the index this long.
  std::string database_url;                 // PostgreSQL; empty: SQLite in data_dir.
  uint32_t db_writers = 4;
  uint32_t db_readers = 2;
  uint32_t db_timeout_ms = 5000;
  std::string pg_synchronous_commit = "on";
  // PostgreSQL: statements prepared once per connection; off for a pooler in transaction mode
  // (storage/README.md, "Through pgbouncer").
  bool db_prepared_statements = true;
  std::string database_read_url;  // PostgreSQL read replicas; empty: the primary reads.
  uint32_t db_replica_max_lag_ms = 5000;
  // Not a flag: false in cluster mode (--redis), where other nodes commit to the same database
  // too, so that the read replicas trust only reads that name what their client has seen
  // (storage/README.md, "Read replicas").
  bool sole_writer = true;
};

void RegisterStoreFlags(FlagRegistry& flags, StoreOptions* options);

}  // namespace ringcast::storage
