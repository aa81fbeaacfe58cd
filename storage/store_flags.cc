#include <CLI/CLI.hpp>
#include <cstdio>

#include "core/flags.h"
#include "storage/store_options.h"

namespace ringcast::storage {

void RegisterStoreFlags(FlagRegistry& flags, StoreOptions* options) {
  flags.Add({
      {"data-dir", &options->data_dir, "Directory of the chat store (created if missing)"},
      Bounded(
          "store-cache-mib", &options->store_cache_mib, 1, 65536,
          "SQLite page cache of each store connection (writer, readers, search index) per database "
          "file it reads, in MiB"),
      Bounded("wal-bound-mib", &options->wal_bound_mib, 0, 1 << 20,
              "SQLite: the WAL is kept below this many MiB (started over, writes held briefly, at "
              "half of it; a warning past it); 0: unbounded"),
      Bounded("wal-hard-cap-mib", &options->wal_hard_cap_mib, 0, 1 << 20,
              "SQLite: past this many MiB of WAL, writes are answered unavailable until a "
              "checkpoint starts it over; 0: never refuse"),
      Bounded("wal-idle-checkpoint-ms", &options->wal_idle_checkpoint_ms, 0, 3600000,
              "SQLite: after this many ms without a write the WAL is copied back and truncated; 0: "
              "never"),
      Bounded(
          "wal-restart-wait-ms", &options->wal_restart_wait_ms, 1, 60000,
          "SQLite: how long a checkpoint that starts the WAL over waits for readers, writes held"),
      {"sqlite-page-size", &options->sqlite_page_size,
       "SQLite: page size in bytes of a database file the server creates (an existing file "
       "keeps its own)",
       CLI::IsMember({512, 1024, 2048, 4096, 8192, 16384, 32768, 65536})},
      Bounded(
          "search-index-interval-ms", &options->search_index_interval_ms, 0, 60000,
          "SQLite: the search index (search.db, kept by a thread of its own) adds new messages, "
          "edits and deletions this long after their commit, in one transaction (0: at once, at "
          "a higher cost per message); a search first waits for the messages committed before "
          "it (--search-fresh-wait-ms)"),
      Bounded("search-fresh-wait-ms", &options->search_fresh_wait_ms, 0, 60000,
              "SQLite: how long a search waits for the index to hold the messages committed before "
              "it (after that, or with 0, it answers from what is indexed)"),
      Bounded("sqlite-recent-cids", &options->sqlite_recent_cids, 1024, 1 << 22,
              "SQLite: cids of the newest messages held in memory before they are merged into the "
              "de-duplication index in bulk (about 100 bytes each; appends are refused at twice "
              "this)"),
      Bounded("batch-max", &options->batch_max, 1, 100000,
              "Writes committed in one transaction at most"),
      Bounded("max-store-queue", &options->max_store_queue, 64, 16777216,
              "Store jobs waiting to run at most (SQLite: writes and reads each; PostgreSQL: all); "
              "past it a request is answered unavailable at once"),
      Bounded(
          "max-store-wait-ms", &options->max_store_wait_ms, 0, 600000,
          "A write that would wait longer than this many ms before it runs (the queue ahead of it "
          "at the store's measured rate, or the oldest queued write's age) is answered "
          "unavailable at once; queues shorter than --batch-max never are; 0: bounded by "
          "--max-store-queue only"),
      Bounded("batch-delay-us", &options->batch_delay_us, 0, 1000000,
              "Microseconds to wait for a partial batch to fill (0: commit what is there)"),
      Bounded("commit-interval-us", &options->commit_interval_us, 0, 100000,
              "SQLite: a commit begins at least this long after the previous one began, the writes "
              "that arrive meanwhile joining it; after a pause a write commits at once (0: no "
              "pacing)"),
      {"synchronous", &options->synchronous,
       "SQLite synchronous mode: full (an ack survives power loss) or normal (survives a "
       "crash)",
       CLI::IsMember({"full", "normal"})},
      {"database-url", &options->database_url,
       "PostgreSQL connection string or URL (postgres://user:pass@host:port/db; several hosts "
       "host1:5432,host2:5432 with ?target_session_attrs=read-write follow a failover); empty: "
       "the embedded SQLite store in --data-dir"},
      {"database-read-url", &options->database_read_url,
       "PostgreSQL read replicas (a URL, one host or several): history, sync, lists and search "
       "read there when the replica has what they must see, else the primary; empty: none"},
      Bounded("db-replica-max-lag-ms", &options->db_replica_max_lag_ms, 0, 3600000,
              "PostgreSQL: reads skip the read replica while its measured replay lag exceeds this "
              "many milliseconds (0: no bound; each read still checks the seqs it must see)"),
      Bounded("db-writers", &options->db_writers, 1, 64,
              "PostgreSQL writer connections (conversations are spread over them)"),
      Bounded("db-readers", &options->db_readers, 1, 64,
              "PostgreSQL reader connections (history, sync, lists, logins)"),
      Bounded("db-timeout-ms", &options->db_timeout_ms, 100, 600000,
              "PostgreSQL: an operation not answered within this many milliseconds (the database "
              "down or stalled) fails as unavailable"),
      {"pg-synchronous-commit", &options->pg_synchronous_commit,
       "PostgreSQL synchronous_commit of the writers: on (an ack survives a database crash) "
       "or off, local, remote_write, remote_apply (storage/README.md)",
       CLI::IsMember({"on", "off", "local", "remote_write", "remote_apply"})},
      {"db-prepared-statements", &options->db_prepared_statements,
       "PostgreSQL: prepare every statement once per connection and set the session up once; "
       "off (--no-db-prepared-statements): each statement is sent with its text and the "
       "settings are set per transaction, so nothing outlives a transaction on a server "
       "connection, as a pooler in transaction mode (pgbouncer) needs"},
  });
  flags.AddSecretFile({"database-url", "--database-url-file", "RINGCAST_DATABASE_URL_FILE"});
  flags.AddSecretFile(
      {"database-read-url", "--database-read-url-file", "RINGCAST_DATABASE_READ_URL_FILE"});
  flags.AddCheck([options] {
    if (options->wal_hard_cap_mib != 0 && options->wal_hard_cap_mib < options->wal_bound_mib) {
      // Writes would be refused before the bound's checkpoint had a chance to start it over.
      std::fprintf(
          stderr, "ringcast: --wal-hard-cap-mib (%u) must be at least --wal-bound-mib (%u), or 0\n",
          unsigned(options->wal_hard_cap_mib), unsigned(options->wal_bound_mib));
      return false;
    }
    return true;
  });
}

}  // namespace ringcast::storage
