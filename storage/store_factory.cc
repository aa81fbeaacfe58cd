#include "storage/store_factory.h"

#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <utility>

#include "storage/pg_chat_store.h"
#include "storage/pg_pipeline.h"
#include "storage/sqlite_chat_store.h"

namespace ringcast::storage {
namespace {

constexpr const char* kDatabaseFile = "chat.db";

[[gnu::format(printf, 2, 3)]] void LogInfo(void (*log)(bool, const std::string&),
                                           const char* format, ...) {
  char line[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  if (log != nullptr) {
    log(false, line);
  } else {
    std::fprintf(stderr, "%s\n", line);
  }
}

std::unique_ptr<ChatStore> OpenPostgres(const StoreOptions& options, SharedSettings* settings,
                                        void (*log)(bool, const std::string&), std::string* error) {
  // The pipeline's options filled in first, then handed over: GCC 12 at -O3 warns
  // (-Wmaybe-uninitialized, a false positive) on a nested designated initializer of them.
  PgPipelineOptions primary{.conninfo = options.database_url,
                            .writers = options.db_writers,
                            .readers = options.db_readers,
                            .batch_max = options.batch_max,
                            .batch_delay_us = options.batch_delay_us,
                            .timeout = std::chrono::milliseconds(options.db_timeout_ms),
                            .max_queued = options.max_store_queue,
                            .max_wait_ms = options.max_store_wait_ms,
                            .synchronous_commit = options.pg_synchronous_commit,
                            .prepared_statements = options.db_prepared_statements};
  PgStoreOptions pg{.primary = std::move(primary),
                    .read_conninfo = options.database_read_url,
                    .replica_max_lag = std::chrono::milliseconds(options.db_replica_max_lag_ms),
                    .sole_writer = options.sole_writer,
                    .secret_candidate = settings->jwt_secret_hex,
                    .vapid_key_candidate = settings->vapid_key_pem,
                    .log = log};
  auto store = PgChatStore::Open(pg);
  if (!store.ok()) {
    *error = "cannot open the chat store: " + store.status().message();
    return nullptr;
  }
  if (!settings->jwt_secret_hex.empty()) settings->jwt_secret_hex = (*store)->shared_secret();
  settings->vapid_key_pem = (*store)->shared_vapid_key();
  LogInfo(log,
          "chat store: PostgreSQL at %s (%u writers, %u readers, synchronous_commit=%s, batch up "
          "to %u, delay %u us, %s)",
          RedactConninfo(options.database_url).c_str(), options.db_writers, options.db_readers,
          options.pg_synchronous_commit.c_str(), options.batch_max, options.batch_delay_us,
          options.db_prepared_statements ? "prepared statements"
                                         : "unprepared statements, no session state");
  if (!options.database_read_url.empty()) {
    LogInfo(log, "chat store: reads may go to the PostgreSQL read replica at %s (%u readers)",
            RedactConninfo(options.database_read_url).c_str(), options.db_readers);
  }
  return std::move(*store);
}

std::unique_ptr<ChatStore> OpenSqlite(const StoreOptions& options,
                                      void (*log)(bool, const std::string&), std::string* error) {
  ExecutorOptions executor;
  executor.db.path = (std::filesystem::path(options.data_dir) / kDatabaseFile).string();
  executor.db.cache_kib = options.store_cache_mib * 1024;
  executor.db.page_size = options.sqlite_page_size;
  executor.db.synchronous =
      options.synchronous == "normal" ? Synchronous::kNormal : Synchronous::kFull;
  executor.batch_max = options.batch_max;
  executor.batch_delay_us = options.batch_delay_us;
  executor.commit_interval_us = options.commit_interval_us;
  executor.max_queued_writes = executor.max_queued_reads = options.max_store_queue;
  executor.max_wait_ms = options.max_store_wait_ms;
  executor.readers = 2;
  executor.wal_bound_bytes = uint64_t{options.wal_bound_mib} << 20;
  executor.wal_hard_cap_bytes = uint64_t{options.wal_hard_cap_mib} << 20;
  executor.wal_idle_checkpoint_ms = options.wal_idle_checkpoint_ms;
  executor.wal_restart_wait_ms = options.wal_restart_wait_ms;
  executor.log = log;
  auto store = SqliteChatStore::Open(executor, options.sqlite_recent_cids,
                                     {.interval_ms = options.search_index_interval_ms,
                                      .fresh_wait_ms = options.search_fresh_wait_ms,
                                      .cache_kib = executor.db.cache_kib});
  if (!store.ok()) {
    *error = "cannot open the chat store " + executor.db.path + ": " + store.status().ToString();
    return nullptr;
  }
  LogInfo(log,
          "chat store %s open (synchronous=%s, batch up to %u, delay %u us, commits paced %u us)",
          executor.db.path.c_str(), options.synchronous.c_str(), options.batch_max,
          options.batch_delay_us, options.commit_interval_us);
  return std::move(*store);
}

}  // namespace

std::unique_ptr<ChatStore> OpenStore(const StoreOptions& options, SharedSettings* settings,
                                     void (*log)(bool warning, const std::string& line),
                                     std::string* error) {
  if (IsSharedStore(options)) return OpenPostgres(options, settings, log, error);
  return OpenSqlite(options, log, error);
}

}  // namespace ringcast::storage
