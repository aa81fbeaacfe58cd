// PgChatStore's refresh tokens and instance id (schema v9, storage/SCHEMA.md), apart from
// pg_chat_store.cc to keep that file the chat's. The same rules as sqlite_token_store.cc.
#include "storage/pg_schema.h"
#include "storage/pg_store_internal.h"

namespace ringcast::storage {

using namespace pg_internal;  // NOLINT: the backend's shared helpers.

namespace {

constexpr PgStatement kTokenStatements[] = {
    {"instance_id", "SELECT value FROM server_settings WHERE name = 'instance_id'"},
    // An expired token can never be used again: a reuse of it is refused as unknown.
    {"store_refresh",
     "WITH pruned AS (DELETE FROM refresh_tokens WHERE expires_at <= $5::int8) "
     "INSERT INTO refresh_tokens (token_hash, user_id, family, expires_at) "
     "VALUES ($1, $2::int8, $3, $4::int8)"},
    // Run before refresh_rotate in the same job: a live token used before deletes its family,
    // so refresh_rotate then finds nothing.
    {"refresh_reuse",
     "DELETE FROM refresh_tokens WHERE family = (SELECT family FROM refresh_tokens "
     "WHERE token_hash = $1 AND used_at IS NOT NULL AND expires_at > $2::int8) RETURNING 1"},
    // Two rotations of one token at once: the second waits for the row, then sees it used and
    // finds nothing (refused as unknown).
    {"refresh_rotate",
     "WITH old AS (UPDATE refresh_tokens SET used_at = $4::int8 WHERE token_hash = $1 "
     "AND used_at IS NULL AND expires_at > $4::int8 RETURNING user_id, family), "
     "added AS (INSERT INTO refresh_tokens (token_hash, user_id, family, expires_at) "
     "SELECT $2, user_id, family, $3::int8 FROM old RETURNING user_id) "
     "SELECT old.user_id, old.family, u.created_at FROM old JOIN users u ON u.id = old.user_id"},
    {"revoke_refresh_family", "DELETE FROM refresh_tokens WHERE family = $1"},
};

}  // namespace

std::span<const PgStatement> PgTokenStatements() { return kTokenStatements; }

void PgChatStore::InstanceId(Reply<std::string> reply) {
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead, {Query("instance_id", {})},
         RowsInto([](const Row& row) { return row.Text(0); }), std::move(reply));
}

void PgChatStore::StoreRefreshToken(RefreshToken token, int64_t now, Reply<bool> reply) {
  Submit(*pipeline_, 0, Kind::kWrite,
         {Query("store_refresh", {std::move(token.hash), Int(token.user), std::move(token.family),
                                  Int(token.expires_at_ms), Int(now)})},
         Done, std::move(reply));
}

void PgChatStore::RotateRefreshToken(std::string old_hash, std::string next_hash,
                                     int64_t next_expires_at_ms, int64_t now,
                                     Reply<RefreshRotation> reply) {
  Submit(
      *pipeline_, 0, Kind::kWrite,
      {Query("refresh_reuse", {old_hash, Int(now)}),
       Query("refresh_rotate",
             {std::move(old_hash), std::move(next_hash), Int(next_expires_at_ms), Int(now)})},
      [](PgResults results, RefreshRotation& out) {
        if (PQntuples(results[0]) > 0) {
          out.outcome = RefreshOutcome::kReused;
          return Status();
        }
        ForEachRow(results[1], [&](const Row& row) {
          out = RefreshRotation{.outcome = RefreshOutcome::kRotated,
                                .user = row.Int(0),
                                .user_created_at = row.Int(2),
                                .family = row.Text(1)};
        });
        return Status();
      },
      std::move(reply));
}

void PgChatStore::RevokeRefreshFamily(std::string family, Reply<bool> reply) {
  Submit(*pipeline_, 0, Kind::kIdempotentWrite,
         {Query("revoke_refresh_family", {std::move(family)})}, Done, std::move(reply));
}

}  // namespace ringcast::storage
