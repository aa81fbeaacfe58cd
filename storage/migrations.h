// Schema migrations: every schema version this binary knows, applied in order at open.
//
// The version lives in the database header (PRAGMA user_version), which SQLite updates inside
// the transaction, so "schema at version N" and "user_version = N" commit together. All pending
// migrations run in ONE BEGIN IMMEDIATE transaction: a crash or an error half-way leaves the
// file at its old version with none of the new tables, and two processes opening the same
// fresh file cannot both migrate it (the second waits for the write lock, then sees the new
// version). The file is also stamped with PRAGMA application_id so that a stray SQLite file
// passed as --data-dir is refused instead of being "migrated".
//
// Rules for adding a version: a file of its own, sqlite_migrations/vNN_what.sql, whose first line
// is "-- " and its one-line description (cmake/EmbedMigrations.cmake makes the files the table
// SchemaMigrations() returns); never edit one that has shipped; and keep each script free of
// BEGIN/COMMIT (Migrate owns the transaction). The
// schema itself is documented in storage/SCHEMA.md.
//
// Runs on the connection's owning thread, before any other statement (BatchExecutor::Start
// calls it on the writer connection).
#pragma once

#include <cstdint>
#include <span>

#include "storage/sqlite_db.h"
#include "storage/status.h"

namespace ringcast::storage {

// 'RCST' in the database header; 0 means a file no application has claimed yet.
inline constexpr int32_t kApplicationId = 0x52435354;

struct Migration {
  int64_t version;          // 1, 2, 3, ... with no gaps.
  const char* description;  // One line, for logs.
  const char* sql;          // One or more statements, no transaction control.
};

// The migrations compiled into this binary, in order.
std::span<const Migration> SchemaMigrations();
// The schema version this binary writes (the last entry of SchemaMigrations()).
int64_t LatestSchemaVersion();

// Brings the database up to the newest version in `migrations` (the built-in list by
// default). Errors:
//   kSchemaTooNew   user_version is above what `migrations` knows (a newer ringcast wrote
//                   it); nothing is touched, so the newer binary can still use it.
//   kSchemaForeign  application_id belongs to another program, or the file has tables but
//                   no version (not ours).
//   kMisuse         the migration list itself is out of order.
//   anything else   a migration script failed; the transaction is rolled back.
Status Migrate(SqliteDb& db);
Status Migrate(SqliteDb& db, std::span<const Migration> migrations);

}  // namespace ringcast::storage
