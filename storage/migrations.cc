// Migrate: brings a SQLite file to the newest of the schema's versions (the SQL files under
// sqlite_migrations/, made a table by cmake/EmbedMigrations.cmake).
#include "storage/migrations.h"

#include <string>

namespace ringcast::storage {
namespace {

Status Fail(SqliteDb& db, Status status) {
  if (db.InTransaction()) (void)db.Rollback();  // The original error is the one to report.
  return status;
}

}  // namespace

int64_t LatestSchemaVersion() { return SchemaMigrations().back().version; }

Status Migrate(SqliteDb& db) { return Migrate(db, SchemaMigrations()); }

namespace {

Status MigrateInTransaction(SqliteDb& db, std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int64_t>(i) + 1) {
      return Status(Errc::kMisuse, "migration list out of order at index " + std::to_string(i));
    }
  }
  const int64_t latest = migrations.empty() ? 0 : migrations.back().version;
  const std::string& path = db.options().path;

  // Read the version under the write lock, so nobody migrates between our check and our DDL.
  if (Status s = db.BeginImmediate(); !s.ok()) return s;
  Result<int64_t> app_id = db.QueryInt64("PRAGMA application_id");
  if (!app_id.ok()) return Fail(db, app_id.status());
  Result<int64_t> version = db.QueryInt64("PRAGMA user_version");
  if (!version.ok()) return Fail(db, version.status());

  if (*version > latest) {
    return Fail(db, Status(Errc::kSchemaTooNew,
                           "database " + path + " has schema version " + std::to_string(*version) +
                               " but this ringcast knows only up to " + std::to_string(latest) +
                               "; it was written by a newer ringcast: run that version, or point "
                               "--data-dir elsewhere"));
  }
  const bool foreign_id = *app_id != 0 && *app_id != kApplicationId;
  if (foreign_id || (*version > 0 && *app_id != kApplicationId)) {
    return Fail(db, Status(Errc::kSchemaForeign,
                           "database " + path + " does not belong to ringcast (application_id " +
                               std::to_string(*app_id) + ", user_version " +
                               std::to_string(*version) + ")"));
  }
  if (*version == 0) {
    Result<int64_t> tables =
        db.QueryInt64("SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'");
    if (!tables.ok()) return Fail(db, tables.status());
    if (*tables > 0) {
      return Fail(db, Status(Errc::kSchemaForeign,
                             "database " + path + " already holds " + std::to_string(*tables) +
                                 " tables or indexes but no ringcast schema version; refusing to "
                                 "migrate a file that is not ours"));
    }
  }

  for (const Migration& migration : migrations) {
    if (migration.version <= *version) continue;
    if (Status s = db.Exec(migration.sql); !s.ok()) {
      return Fail(db, Status(s.errc(), s.backend_code(),
                             "migration to schema version " + std::to_string(migration.version) +
                                 " (" + migration.description + ") failed: " + s.message()));
    }
  }
  if (latest > *version) {
    // PRAGMAs take no parameters; both values are integers we produced.
    if (Status s = db.Exec("PRAGMA user_version = " + std::to_string(latest)); !s.ok()) {
      return Fail(db, s);
    }
    if (Status s = db.Exec("PRAGMA application_id = " + std::to_string(kApplicationId)); !s.ok()) {
      return Fail(db, s);
    }
  }
  Result<int64_t> broken_keys = db.QueryInt64("SELECT count(*) FROM pragma_foreign_key_check");
  if (!broken_keys.ok()) return Fail(db, broken_keys.status());
  if (*broken_keys > 0) {
    return Fail(db, Status(Errc::kConstraint, "migration left " + std::to_string(*broken_keys) +
                                                  " rows whose foreign key names no row"));
  }
  if (Status s = db.Commit(); !s.ok()) return Fail(db, s);
  return Status();
}

}  // namespace

Status Migrate(SqliteDb& db, std::span<const Migration> migrations) {
  // A migration may rebuild a table (version 8): with foreign keys on, dropping the old table
  // would delete its children. SQLite ignores this pragma inside a transaction, so it is set
  // around ours; MigrateInTransaction checks every key before it commits.
  if (Status s = db.Exec("PRAGMA foreign_keys = OFF"); !s.ok()) return s;
  Status migrated = MigrateInTransaction(db, migrations);
  Status restored = db.Exec("PRAGMA foreign_keys = ON");
  return migrated.ok() ? restored : migrated;
}

}  // namespace ringcast::storage
