// The PostgreSQL schema: its migrations, and the prepared statements the store runs on it.
//
// Migrations run once at start, on a blocking connection of the main thread (no shard runs
// yet), inside one transaction that first takes a transaction-scoped advisory lock: two nodes
// starting at once against an empty database serialize there, and the second finds the schema
// already at the newest version. The version lives in `schema_version` (one row per applied
// migration), written in the same transaction as the migration itself. Rules for new versions
// are those of migrations.h: append, never edit a shipped one. Each version's SQL is a file of its
// own, pg_migrations/vNN_what.sql, made a table by cmake/EmbedMigrations.cmake. The schema is
// documented in storage/SCHEMA.md.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <span>

#include "storage/status.h"

namespace ringcast::storage {

struct PgMigration {
  int32_t version;          // 1, 2, 3, ... with no gaps.
  const char* description;  // One line, for logs and the schema_version table.
  const char* sql;          // One or more statements, no transaction control.
};

std::span<const PgMigration> PgSchemaMigrations();

// Brings the database behind `conn` (blocking, autocommit) up to the newest version. Errors:
// kSchemaTooNew (written by a newer ringcast; untouched), kSchemaForeign (the schema holds a
// `users` table but no schema_version: not ours), or the failing statement's Status (rolled back).
Status MigratePg(PGconn* conn);

// A statement every store connection prepares once after connecting.
struct PgStatement {
  const char* name;
  const char* sql;
};
std::span<const PgStatement> PgPreparedStatements();
// Web Push subscriptions, account email, email digests (pg_push_store.cc); part of the above.
std::span<const PgStatement> PgPushStatements();
// The sweep of orphan uploads (pg_upload_store.cc); part of the above.
std::span<const PgStatement> PgUploadStatements();
// pg_token_store.cc: refresh tokens and the instance id.
std::span<const PgStatement> PgTokenStatements();
// Profiles, logins and blocks (pg_profile_store.cc).
std::span<const PgStatement> PgProfileStatements();
// Message search (pg_search_store.cc).
std::span<const PgStatement> PgSearchStatements();
// Reads of messages and watermarks: history, threads, pins, sync, gap fills (pg_history.cc).
std::span<const PgStatement> PgHistoryStatements();

}  // namespace ringcast::storage
