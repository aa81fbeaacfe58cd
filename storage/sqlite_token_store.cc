// SqliteChatStore's refresh tokens and instance id (schema v9, storage/SCHEMA.md), apart from
// sqlite_chat_store.cc to keep each file to one job. The same SQL as pg_token_store.cc.
#include "storage/sqlite_chat_store.h"

namespace ringcast::storage {

void SqliteChatStore::InstanceId(Reply<std::string> reply) {
  Submit<std::string>(
      Kind::kRead,
      [](SqliteDb& db, std::string& out) {
        auto stmt = db.Prepare("SELECT value FROM meta WHERE key = 'instance_id'");
        return ForEachSqliteRow(*stmt, [&](Statement& row) { out = row.ColumnText(0); });
      },
      std::move(reply));
}

void SqliteChatStore::StoreRefreshToken(RefreshToken token, int64_t now, Reply<bool> reply) {
  Submit<bool>(
      Kind::kWrite,
      [token = std::move(token), now](SqliteDb& db, bool& out) {
        // An expired token can never be used again: a reuse of it is refused as unknown.
        Status s = db.Run("DELETE FROM refresh_tokens WHERE expires_at <= ?1", now);
        if (!s.ok()) return s;
        out = true;
        return db.Run(
            "INSERT INTO refresh_tokens(token_hash, user_id, family, expires_at) "
            "VALUES (?1, ?2, ?3, ?4)",
            token.hash, token.user, token.family, token.expires_at_ms);
      },
      std::move(reply));
}

void SqliteChatStore::RotateRefreshToken(std::string old_hash, std::string next_hash,
                                         int64_t next_expires_at_ms, int64_t now,
                                         Reply<RefreshRotation> reply) {
  Submit<RefreshRotation>(
      Kind::kWrite,
      [old_hash = std::move(old_hash), next_hash = std::move(next_hash), next_expires_at_ms, now](
          SqliteDb& db, RefreshRotation& out) {
        auto find = db.Prepare(
            "SELECT t.user_id, t.family, t.expires_at, t.used_at, u.created_at "
            "FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?1");
        find->Bind(old_hash);
        bool found = false, used = false;
        int64_t expires_at = 0;
        if (Status s = ForEachSqliteRow(*find,
                                        [&](Statement& row) {
                                          found = true;
                                          out.user = row.ColumnInt64(0);
                                          out.family = row.ColumnText(1);
                                          expires_at = row.ColumnInt64(2);
                                          used = !row.ColumnIsNull(3);
                                          out.user_created_at = row.ColumnInt64(4);
                                        });
            !s.ok()) {
          return s;
        }
        if (!found || expires_at <= now) {
          out = RefreshRotation{};
          return Status();
        }
        if (used) {
          Status s = db.Run("DELETE FROM refresh_tokens WHERE family = ?1", out.family);
          out = RefreshRotation{.outcome = RefreshOutcome::kReused};
          return s;
        }
        Status s =
            db.Run("UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1", old_hash, now);
        if (!s.ok()) return s;
        out.outcome = RefreshOutcome::kRotated;
        return db.Run(
            "INSERT INTO refresh_tokens(token_hash, user_id, family, expires_at) "
            "VALUES (?1, ?2, ?3, ?4)",
            next_hash, out.user, out.family, next_expires_at_ms);
      },
      std::move(reply));
}

void SqliteChatStore::RevokeRefreshFamily(std::string family, Reply<bool> reply) {
  SubmitStatement(Kind::kWrite, Answer::kRan, "DELETE FROM refresh_tokens WHERE family = ?1",
                  std::move(reply), std::move(family));
}

}  // namespace ringcast::storage
