// MigratePg and the table of the PostgreSQL schema's versions, one file each beside this one
// (pg_migrations/vNN_*.cc). A new version: a file of its own, its row at the end of the table.
#include "storage/pg_migrations/pg_migrations.h"

#include <iterator>
#include <string>

#include "storage/pg_pipeline.h"
#include "storage/pg_schema.h"

namespace ringcast::storage {
namespace {

constexpr PgMigration kPgMigrations[] = {
    {1, "chat service: users, conversations, members, messages, revoked tokens",
     pg_migrations::kSchemaV1},
    {2, "server settings shared by every node (the token signing secret)",
     pg_migrations::kSchemaV2},
    {3, "username prefix search", pg_migrations::kSchemaV3},
    {4, "mentions, mute and notified watermarks", pg_migrations::kSchemaV4},
    {5, "web push subscriptions, account email, email digests", pg_migrations::kSchemaV5},
    {6, "uploads and message attachments", pg_migrations::kSchemaV6},
    {7, "indexes for the sweep of orphan uploads", pg_migrations::kSchemaV7},
    {8, "mentions by message", pg_migrations::kSchemaV8},
    {9, "refresh tokens and the instance id", pg_migrations::kSchemaV9},
    {10, "profiles, logins (sessions) and blocks", pg_migrations::kSchemaV10},
    {11, "changes to messages: edits, deletions, reactions and pins", pg_migrations::kSchemaV11},
    {12, "group roles and topics", pg_migrations::kSchemaV12},
    {13, "search: a full-text index of message bodies", pg_migrations::kSchemaV13},
    {14, "replies and threads", pg_migrations::kSchemaV14},
    {15, "search: the index keyed by conversation too", pg_migrations::kSchemaV15},
    {16, "group avatars", pg_migrations::kSchemaV16},
    {17, "search leaves calls' records out", pg_migrations::kSchemaV17},
};

// A key of ringcast's own for pg_advisory_xact_lock ('RCST' 'MIGR').
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(5927159034712967506)";

Status Failed(PGconn* conn, PGresult* result, const std::string& what) {
  const char* sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = what + ": " + (sqlstate ? std::string(sqlstate) + " " : "") +
                        FirstLine(result ? PQresultErrorMessage(result) : PQerrorMessage(conn));
  const bool privileges = sqlstate && std::string_view(sqlstate) == "42501";
  if (result) PQclear(result);
  PGresult* rollback = PQexec(conn, "ROLLBACK");
  PQclear(rollback);
  return Status(privileges ? Errc::kReadOnly : Errc::kInternal, std::move(message));
}

// Runs `sql` (no parameters); rows stay in *rows when given.
Status Exec(PGconn* conn, const char* sql, const std::string& what, PGresult** rows = nullptr) {
  PGresult* result = PQexec(conn, sql);
  const ExecStatusType status = PQresultStatus(result);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return Failed(conn, result, what);
  if (rows) {
    *rows = result;
  } else {
    PQclear(result);
  }
  return Status();
}

}  // namespace

std::span<const PgMigration> PgSchemaMigrations() { return kPgMigrations; }

Status MigratePg(PGconn* conn) {
  const int32_t latest = kPgMigrations[std::size(kPgMigrations) - 1].version;
  if (Status s = Exec(conn, "BEGIN", "starting the migration"); !s.ok()) return s;
  if (Status s = Exec(conn, kMigrationLock, "taking the migration lock"); !s.ok()) return s;
  PGresult* rows = nullptr;
  // to_regclass: NULL when there is no such table in the search path.
  if (Status s = Exec(conn,
                      "SELECT to_regclass('schema_version') IS NOT NULL, "
                      "to_regclass('users') IS NOT NULL",
                      "reading the schema", &rows);
      !s.ok()) {
    return s;
  }
  const bool versioned = PQgetvalue(rows, 0, 0)[0] == 't';
  const bool has_users = PQgetvalue(rows, 0, 1)[0] == 't';
  PQclear(rows);
  int32_t version = 0;
  if (versioned) {
    if (Status s = Exec(conn, "SELECT coalesce(max(version), 0) FROM schema_version",
                        "reading schema_version", &rows);
        !s.ok()) {
      return s;
    }
    version = std::stoi(PQgetvalue(rows, 0, 0));
    PQclear(rows);
  } else if (has_users) {
    (void)Exec(conn, "ROLLBACK", "");
    return Status(Errc::kSchemaForeign,
                  "the database has a users table but no schema_version: not ringcast's; "
                  "use an empty database");
  }
  if (version > latest) {
    (void)Exec(conn, "ROLLBACK", "");
    return Status(Errc::kSchemaTooNew,
                  "the database has schema version " + std::to_string(version) +
                      " but this ringcast knows "
                      "only up to " +
                      std::to_string(latest) + ": it was written by a newer ringcast");
  }
  if (!versioned) {
    if (Status s = Exec(conn,
                        "CREATE TABLE schema_version (version int PRIMARY KEY, "
                        "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                        "creating schema_version");
        !s.ok()) {
      return s;
    }
  }
  for (const PgMigration& migration : kPgMigrations) {
    if (migration.version <= version) continue;
    const std::string what = "migrating to schema version " + std::to_string(migration.version);
    if (Status s = Exec(conn, migration.sql, what); !s.ok()) return s;
    const std::string number = std::to_string(migration.version);
    const char* values[] = {number.c_str(), migration.description};
    PGresult* result =
        PQexecParams(conn, "INSERT INTO schema_version (version, description) VALUES ($1, $2)", 2,
                     nullptr, values, nullptr, nullptr, 0);
    if (PQresultStatus(result) != PGRES_COMMAND_OK) return Failed(conn, result, what);
    PQclear(result);
  }
  return Exec(conn, "COMMIT", "committing the migration");
}

}  // namespace ringcast::storage
