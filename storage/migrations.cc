// Migrate and the table of the SQLite schema's versions, one file each under sqlite_migrations/
// (vNN_*.cc). A new version: a file of its own, its row at the end of the table.
#include "storage/migrations.h"

#include <string>

#include "storage/sqlite_migrations/sqlite_migrations.h"

namespace ringcast::storage {
namespace {

Status Fail(SqliteDb& db, Status status) {
  if (db.InTransaction()) (void)db.Rollback();  // The original error is the one to report.
  return status;
}

}  // namespace

std::span<const Migration> SchemaMigrations() {
  // Built on first use: the scripts are pointers defined in other files (sqlite_migrations.h).
  static const Migration kMigrations[] = {
      {1, "chat service: users, conversations, members, messages, revoked tokens",
       sqlite_migrations::kSchemaV1},
      {2, "a sender has read its own messages", sqlite_migrations::kSchemaV2},
      {3, "mentions, mute and notified watermarks", sqlite_migrations::kSchemaV3},
      {4, "web push subscriptions, account email, email digests", sqlite_migrations::kSchemaV4},
      {5, "uploads and message attachments", sqlite_migrations::kSchemaV5},
      {6, "indexes for the sweep of orphan uploads", sqlite_migrations::kSchemaV6},
      {7, "mentions by message", sqlite_migrations::kSchemaV7},
      {8, "the cid index leaves messages for message_cids, filled in bulk",
       sqlite_migrations::kSchemaV8},
      {9, "refresh tokens and the instance id", sqlite_migrations::kSchemaV9},
      {10, "profiles, logins (sessions) and blocks", sqlite_migrations::kSchemaV10},
      {11, "changes to messages: edits, deletions, reactions and pins",
       sqlite_migrations::kSchemaV11},
      {12, "group roles and topics", sqlite_migrations::kSchemaV12},
      {13, "search: an FTS5 index of message bodies", sqlite_migrations::kSchemaV13},
      {14, "replies and threads", sqlite_migrations::kSchemaV14},
      {15, "search: the index keyed by conversation", sqlite_migrations::kSchemaV15},
      {16, "search: the index moves to search.db", sqlite_migrations::kSchemaV16},
      {17, "group avatars", sqlite_migrations::kSchemaV17},
  };
  return kMigrations;
}

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
