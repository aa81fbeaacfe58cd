// MigratePg: brings a PostgreSQL database to the newest of the schema's versions (the SQL files
// beside this one, made a table by cmake/EmbedMigrations.cmake).
#include <string>

#include "storage/pg_pipeline.h"
#include "storage/pg_schema.h"

namespace ringcast::storage {
namespace {

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

Status MigratePg(PGconn* conn) {
  const std::span<const PgMigration> migrations = PgSchemaMigrations();
  const int32_t latest = migrations.back().version;
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
  for (const PgMigration& migration : migrations) {
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
