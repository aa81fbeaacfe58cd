#include <CLI/CLI.hpp>
#include <cstdio>

#include "core/flags.h"
#include "storage/store_options.h"

namespace ringcast::storage {

void RegisterStoreFlags(FlagRegistry& flags, StoreOptions* options) {
  flags.Add("--data-dir", &options->data_dir, "RINGCAST_DATA_DIR",
            "Directory of the chat store (created if missing)");
  flags
      .Add("--store-cache-mib", &options->store_cache_mib, "RINGCAST_STORE_CACHE_MIB",
           "SQLite page cache of each store connection (writer, readers), in MiB")
      ->check(CLI::Range(1, 65536));
  flags
      .Add("--wal-bound-mib", &options->wal_bound_mib, "RINGCAST_WAL_BOUND_MIB",
           "SQLite: the WAL is kept below this many MiB (started over, writes held briefly, at "
           "half of it; a warning past it); 0: unbounded")
      ->check(CLI::Range(0, 1 << 20));
  flags
      .Add("--wal-hard-cap-mib", &options->wal_hard_cap_mib, "RINGCAST_WAL_HARD_CAP_MIB",
           "SQLite: past this many MiB of WAL, writes are answered unavailable until a "
           "checkpoint starts it over; 0: never refuse")
      ->check(CLI::Range(0, 1 << 20));
  flags
      .Add("--wal-idle-checkpoint-ms", &options->wal_idle_checkpoint_ms,
           "RINGCAST_WAL_IDLE_CHECKPOINT_MS",
           "SQLite: after this many ms without a write the WAL is copied back and truncated; 0: "
           "never")
      ->check(CLI::Range(0, 3600000));
  flags
      .Add("--wal-restart-wait-ms", &options->wal_restart_wait_ms, "RINGCAST_WAL_RESTART_WAIT_MS",
           "SQLite: how long a checkpoint that starts the WAL over waits for readers, writes held")
      ->check(CLI::Range(1, 60000));
  flags
      .Add("--sqlite-page-size", &options->sqlite_page_size, "RINGCAST_SQLITE_PAGE_SIZE",
           "SQLite: page size in bytes of a database file the server creates (an existing file "
           "keeps its own)")
      ->check(CLI::IsMember({512, 1024, 2048, 4096, 8192, 16384, 32768, 65536}));
  flags
      .Add("--sqlite-recent-cids", &options->sqlite_recent_cids, "RINGCAST_SQLITE_RECENT_CIDS",
           "SQLite: cids of the newest messages held in memory before they are merged into the "
           "de-duplication index in bulk (about 100 bytes each; appends are refused at twice "
           "this)")
      ->check(CLI::Range(1024, 1 << 22));
  flags
      .Add("--batch-max", &options->batch_max, "RINGCAST_BATCH_MAX",
           "Writes committed in one transaction at most")
      ->check(CLI::Range(1, 100000));
  flags
      .Add("--max-store-queue", &options->max_store_queue, "RINGCAST_MAX_STORE_QUEUE",
           "Store jobs waiting to run at most (SQLite: writes and reads each; PostgreSQL: all); "
           "past it a request is answered unavailable at once")
      ->check(CLI::Range(64, 16777216));
  flags
      .Add("--batch-delay-us", &options->batch_delay_us, "RINGCAST_BATCH_DELAY_US",
           "Microseconds to wait for a partial batch to fill (0: commit what is there)")
      ->check(CLI::Range(0, 1000000));
  flags
      .Add("--commit-interval-us", &options->commit_interval_us, "RINGCAST_COMMIT_INTERVAL_US",
           "SQLite: a commit begins at least this long after the previous one began, the writes "
           "that arrive meanwhile joining it; after a pause a write commits at once (0: no "
           "pacing)")
      ->check(CLI::Range(0, 100000));
  flags
      .Add("--synchronous", &options->synchronous, "RINGCAST_SYNCHRONOUS",
           "SQLite synchronous mode: full (an ack survives power loss) or normal (survives a "
           "crash)")
      ->check(CLI::IsMember({"full", "normal"}));
  flags.Add("--database-url", &options->database_url, "RINGCAST_DATABASE_URL",
            "PostgreSQL connection string or URL (postgres://user:pass@host:port/db); empty: the "
            "embedded SQLite store in --data-dir");
  flags
      .Add("--db-writers", &options->db_writers, "RINGCAST_DB_WRITERS",
           "PostgreSQL writer connections (conversations are spread over them)")
      ->check(CLI::Range(1, 64));
  flags
      .Add("--db-readers", &options->db_readers, "RINGCAST_DB_READERS",
           "PostgreSQL reader connections (history, sync, lists, logins)")
      ->check(CLI::Range(1, 64));
  flags
      .Add("--db-timeout-ms", &options->db_timeout_ms, "RINGCAST_DB_TIMEOUT_MS",
           "PostgreSQL: an operation not answered within this many milliseconds (the database "
           "down or stalled) fails as unavailable")
      ->check(CLI::Range(100, 600000));
  flags
      .Add("--pg-synchronous-commit", &options->pg_synchronous_commit,
           "RINGCAST_PG_SYNCHRONOUS_COMMIT",
           "PostgreSQL synchronous_commit of the writers: on (an ack survives a database crash) "
           "or off, local, remote_write, remote_apply (storage/README.md)")
      ->check(CLI::IsMember({"on", "off", "local", "remote_write", "remote_apply"}));
  flags.AddSecretFile({"database-url", "--database-url-file", "RINGCAST_DATABASE_URL_FILE"});
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
