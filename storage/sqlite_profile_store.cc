// SqliteChatStore's profiles, logins, account deletion and blocks (profile_store.h; schema v10,
// storage/SCHEMA.md "Profiles, logins and blocks"). The same rules as pg_profile_store.cc.
#include <set>

#include "storage/account_store.h"
#include "storage/profile_name.h"
#include "storage/sqlite_chat_store.h"

namespace ringcast::storage {
namespace {

constexpr const char* kProfileColumns =
    "id, username, display_name, avatar_upload, status_text, deleted_at IS NOT NULL";

std::optional<std::string> OptionalText(Statement& row, int column) {
  if (row.ColumnIsNull(column)) return std::nullopt;
  return std::string(row.ColumnText(column));
}

Profile ReadProfile(Statement& row) {
  Profile profile{.id = row.ColumnInt64(0), .deleted = row.ColumnInt64(5) != 0};
  if (profile.deleted) return profile;
  profile.username = std::string(row.ColumnText(1));
  profile.display_name = OptionalText(row, 2);
  profile.avatar = OptionalText(row, 3);
  profile.status = OptionalText(row, 4);
  return profile;
}

Status ReadProfiles(Statement& stmt, std::vector<Profile>& out) {
  return ForEachSqliteRow(stmt, [&](Statement& row) { out.push_back(ReadProfile(row)); });
}

// The user's families (logins, and refresh tokens from before schema v10) that `which` picks.
Result<std::vector<std::string>> SelectFamilies(SqliteDb& db, int64_t user,
                                                const LoginSelection& which) {
  auto stmt = db.Prepare(
      "SELECT family FROM logins WHERE user_id = ?1 UNION "
      "SELECT family FROM refresh_tokens WHERE user_id = ?1");
  stmt->Bind(user);
  std::vector<std::string> families;
  Status s = ForEachSqliteRow(*stmt, [&](Statement& row) {
    std::string family(row.ColumnText(0));
    if (which.only && family != *which.only) return;
    if (which.keep && family == *which.keep) return;
    families.push_back(std::move(family));
  });
  if (!s.ok()) return s;
  return families;
}

// Deletes the families' refresh tokens and login rows and revokes their access tokens (a
// family id in revoked_tokens refuses every jti "<family>.*").
Status EndFamilies(SqliteDb& db, const std::vector<std::string>& families,
                   int64_t revoked_until_ms) {
  auto tokens = db.Prepare("DELETE FROM refresh_tokens WHERE family = ?1");
  auto logins = db.Prepare("DELETE FROM logins WHERE family = ?1");
  auto revoke = db.Prepare(
      "INSERT INTO revoked_tokens(jti, expires_at) VALUES (?1, ?2) ON CONFLICT(jti) "
      "DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)");
  for (const std::string& family : families) {
    tokens->Reset();
    tokens->Bind(family);
    if (Status s = tokens->Exec(); !s.ok()) return s;
    logins->Reset();
    logins->Bind(family);
    if (Status s = logins->Exec(); !s.ok()) return s;
    revoke->Reset();
    revoke->Bind(family, revoked_until_ms);
    if (Status s = revoke->Exec(); !s.ok()) return s;
  }
  return Status();
}

}  // namespace

void SqliteChatStore::FindProfiles(std::vector<int64_t> ids, Reply<std::vector<Profile>> reply) {
  Submit<std::vector<Profile>>(
      Kind::kRead,
      [ids = std::move(ids)](SqliteDb& db, std::vector<Profile>& out) {
        const std::set<int64_t> wanted(ids.begin(), ids.end());  // Ordered, no repeats.
        auto stmt =
            db.Prepare(std::string("SELECT ") + kProfileColumns + " FROM users WHERE id = ?1");
        for (int64_t id : wanted) {
          stmt->Reset();
          stmt->Bind(id);
          if (Status s = ReadProfiles(*stmt, out); !s.ok()) return s;
        }
        return Status();
      },
      std::move(reply));
}

void SqliteChatStore::SearchProfiles(std::string prefix, uint32_t limit,
                                     Reply<std::vector<Profile>> reply) {
  Submit<std::vector<Profile>>(
      Kind::kRead,
      [prefix = std::move(prefix), limit](SqliteDb& db, std::vector<Profile>& out) {
        std::set<int64_t> seen;
        // Usernames first (the NOCASE unique index, one range in order), then display-name
        // words (user_name_words' primary key, one range): each branch bounded by `limit`.
        if (std::optional<UsernameRange> range = UsernamePrefixRange(prefix)) {
          auto stmt = db.Prepare(std::string("SELECT ") + kProfileColumns +
                                 " FROM users WHERE username >= ?1 AND username < ?2 AND "
                                 "deleted_at IS NULL ORDER BY username LIMIT ?3");
          stmt->Bind(range->low, range->high, limit);
          Status s = ForEachSqliteRow(*stmt, [&](Statement& row) {
            seen.insert(row.ColumnInt64(0));
            out.push_back(ReadProfile(row));
          });
          if (!s.ok()) return s;
        }
        const std::optional<NameWordRange> words = NameWordPrefixRange(prefix);
        if (!words || out.size() >= limit) return Status();
        auto stmt = db.Prepare(std::string("SELECT DISTINCT ") + kProfileColumns +
                               " FROM users WHERE id IN (SELECT user_id FROM user_name_words "
                               "WHERE word >= ?1 AND word < ?2 ORDER BY word LIMIT ?3) "
                               "AND deleted_at IS NULL ORDER BY username");
        stmt->Bind(words->low, words->high, limit * 2);
        return ForEachSqliteRow(*stmt, [&](Statement& row) {
          if (out.size() >= limit || !seen.insert(row.ColumnInt64(0)).second) return;
          out.push_back(ReadProfile(row));
        });
      },
      std::move(reply));
}

Status DenyUnlessOwnImage(SqliteDb& db, std::string_view upload, int64_t user, Denial refusal,
                          Denial& denial) {
  auto own = db.Prepare(
      "SELECT 1 FROM uploads WHERE id = ?1 AND owner_id = ?2 AND type LIKE 'image/%' "
      "AND thumb_sha256 <> ''");
  own->Bind(upload, user);
  Result<bool> found = AnySqliteRow(*own);
  if (!found.ok()) return found.status();
  if (!*found) denial = refusal;
  return Status();
}

void SqliteChatStore::UpdateProfile(int64_t user, ProfileChange change,
                                    Reply<ProfileOutcome> reply) {
  Submit<ProfileOutcome>(
      Kind::kWrite,
      [user, change = std::move(change)](SqliteDb& db, ProfileOutcome& out) {
        if (change.avatar && *change.avatar) {
          Status s = DenyUnlessOwnImage(db, **change.avatar, user, Denial::kForbidden, out.denial);
          if (!s.ok() || out.denial != Denial::kNone) return s;
        }
        // ?N IS NULL-style flags: a field not given keeps its value.
        auto update = db.Prepare(
            "UPDATE users SET "
            "display_name = CASE WHEN ?2 THEN ?3 ELSE display_name END, "
            "avatar_upload = CASE WHEN ?4 THEN ?5 ELSE avatar_upload END, "
            "status_text = CASE WHEN ?6 THEN ?7 ELSE status_text END "
            "WHERE id = ?1 AND deleted_at IS NULL RETURNING " +
            std::string(kProfileColumns));
        update->Bind(user, change.display_name.has_value(),
                     change.display_name.value_or(std::nullopt), change.avatar.has_value(),
                     change.avatar.value_or(std::nullopt), change.status.has_value(),
                     change.status.value_or(std::nullopt));
        bool found = false;
        Status s = ForEachSqliteRow(*update, [&](Statement& row) {
          found = true;
          out.profile = ReadProfile(row);
        });
        if (!s.ok()) return s;
        if (!found) {
          out.denial = Denial::kNotFound;
          return Status();
        }
        if (!change.display_name) return Status();
        s = db.Run("DELETE FROM user_name_words WHERE user_id = ?1", user);
        if (!s.ok()) return s;
        auto add =
            db.Prepare("INSERT OR IGNORE INTO user_name_words(word, user_id) VALUES (?1, ?2)");
        for (const std::string& word : change.name_words) {
          add->Reset();
          add->Bind(word, user);
          if (Status s = add->Exec(); !s.ok()) return s;
        }
        return Status();
      },
      std::move(reply));
}

void SqliteChatStore::SetPasswordHash(int64_t user, std::string password_hash, Reply<bool> reply) {
  SubmitStatement(Kind::kWrite, Answer::kAnyRow,
                  "UPDATE users SET password_hash = ?2 WHERE id = ?1 AND deleted_at IS NULL "
                  "RETURNING id",
                  std::move(reply), user, std::move(password_hash));
}

void SqliteChatStore::StoreLogin(LoginRecord login, Reply<bool> reply) {
  Submit<bool>(
      Kind::kWrite,
      [login = std::move(login)](SqliteDb& db, bool& out) {
        // Rows of logins whose every refresh token has expired go with each new login.
        Status s = db.Run(
            "DELETE FROM logins WHERE user_id = ?1 AND NOT EXISTS (SELECT 1 FROM "
            "refresh_tokens t WHERE t.family = logins.family)",
            login.user);
        if (!s.ok()) return s;
        out = true;
        return db.Run(
            "INSERT INTO logins(family, user_id, created_at, last_used_at, user_agent, address) "
            "VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
            login.family, login.user, login.created_at, login.user_agent, login.address);
      },
      std::move(reply));
}

void SqliteChatStore::TouchLogin(std::string family, int64_t now, Reply<bool> reply) {
  SubmitStatement(Kind::kWrite, Answer::kRan,
                  "UPDATE logins SET last_used_at = ?2 WHERE family = ?1", std::move(reply),
                  std::move(family), now);
}

void SqliteChatStore::ListLogins(int64_t user, int64_t now, Reply<std::vector<LoginRecord>> reply) {
  Submit<std::vector<LoginRecord>>(
      Kind::kRead,
      [user, now](SqliteDb& db, std::vector<LoginRecord>& out) {
        auto stmt = db.Prepare(
            "SELECT family, created_at, last_used_at, user_agent, address FROM logins l "
            "WHERE user_id = ?1 AND EXISTS (SELECT 1 FROM refresh_tokens t WHERE "
            "t.family = l.family AND t.expires_at > ?2) ORDER BY created_at DESC, family");
        stmt->Bind(user, now);
        return ForEachSqliteRow(*stmt, [&](Statement& row) {
          out.push_back(LoginRecord{.family = std::string(row.ColumnText(0)),
                                    .user = user,
                                    .created_at = row.ColumnInt64(1),
                                    .last_used_at = row.ColumnInt64(2),
                                    .user_agent = std::string(row.ColumnText(3)),
                                    .address = std::string(row.ColumnText(4))});
        });
      },
      std::move(reply));
}

void SqliteChatStore::EndLogins(int64_t user, LoginSelection which, int64_t revoked_until_ms,
                                int64_t /*now*/, Reply<std::vector<std::string>> reply) {
  Submit<std::vector<std::string>>(
      Kind::kWrite,
      [user, which = std::move(which), revoked_until_ms](SqliteDb& db,
                                                         std::vector<std::string>& out) {
        Result<std::vector<std::string>> families = SelectFamilies(db, user, which);
        if (!families.ok()) return families.status();
        out = std::move(*families);
        return EndFamilies(db, out, revoked_until_ms);
      },
      std::move(reply));
}

void SqliteChatStore::DeleteAccount(int64_t user, int64_t revoked_until_ms, int64_t now,
                                    Reply<DeletedAccount> reply) {
  Submit<DeletedAccount>(
      Kind::kWrite,
      [user, revoked_until_ms, now](SqliteDb& db, DeletedAccount& out) {
        // The username is released: a name no registration can take ('~' is outside the
        // username alphabet) keeps the column unique; the empty hash matches no password.
        auto mark = db.Prepare(
            "UPDATE users SET username = '~deleted~' || id, password_hash = '', email = NULL, "
            "display_name = NULL, avatar_upload = NULL, status_text = NULL, deleted_at = ?2 "
            "WHERE id = ?1 AND deleted_at IS NULL RETURNING id");
        mark->Bind(user, now);
        if (Status s = ForEachSqliteRow(*mark, [&](Statement&) { out.found = true; }); !s.ok()) {
          return s;
        }
        if (!out.found) return Status();
        Result<std::vector<std::string>> families = SelectFamilies(db, user, {});
        if (!families.ok()) return families.status();
        out.families = std::move(*families);
        if (Status s = EndFamilies(db, out.families, revoked_until_ms); !s.ok()) return s;
        for (const char* sql : {"DELETE FROM user_name_words WHERE user_id = ?1",
                                "DELETE FROM push_subscriptions WHERE user_id = ?1",
                                "DELETE FROM blocks WHERE blocker = ?1 OR blocked = ?1"}) {
          if (Status s = db.Run(sql, user); !s.ok()) return s;
        }
        // The caller removes the user from these through RemoveMember, which tells the members.
        auto groups = db.Prepare(
            "SELECT uc.conversation_id FROM users_conversations uc JOIN conversations c ON "
            "c.id = uc.conversation_id WHERE uc.user_id = ?1 AND c.is_group = 1 "
            "ORDER BY uc.conversation_id");
        groups->Bind(user);
        return ForEachSqliteRow(*groups,
                                [&](Statement& row) { out.groups.push_back(row.ColumnInt64(0)); });
      },
      std::move(reply));
}

void SqliteChatStore::SetBlock(int64_t blocker, int64_t blocked, bool on, int64_t now,
                               Reply<Denial> reply) {
  Submit<Denial>(
      Kind::kWrite,
      [blocker, blocked, on, now](SqliteDb& db, Denial& out) {
        if (!on) {
          out = Denial::kNone;
          return db.Run("DELETE FROM blocks WHERE blocker = ?1 AND blocked = ?2", blocker, blocked);
        }
        Status s = db.Run(
            "INSERT INTO blocks(blocker, blocked, created_at) SELECT ?1, id, ?3 FROM users "
            "WHERE id = ?2 AND deleted_at IS NULL ON CONFLICT DO NOTHING",
            blocker, blocked, now);
        if (!s.ok()) return s;
        auto exists = db.Prepare("SELECT 1 FROM blocks WHERE blocker = ?1 AND blocked = ?2");
        exists->Bind(blocker, blocked);
        out = Denial::kUnknownUser;
        return ForEachSqliteRow(*exists, [&](Statement&) { out = Denial::kNone; });
      },
      std::move(reply));
}

void SqliteChatStore::ListBlocks(int64_t user, Reply<std::vector<Profile>> reply) {
  Submit<std::vector<Profile>>(
      Kind::kRead,
      [user](SqliteDb& db, std::vector<Profile>& out) {
        auto stmt = db.Prepare(std::string("SELECT ") + kProfileColumns +
                               " FROM users WHERE id IN (SELECT blocked FROM blocks WHERE "
                               "blocker = ?1) ORDER BY id");
        stmt->Bind(user);
        return ReadProfiles(*stmt, out);
      },
      std::move(reply));
}

void SqliteChatStore::EitherBlocks(int64_t a, int64_t b, Reply<bool> reply) {
  SubmitStatement(Kind::kRead, Answer::kAnyRow,
                  "SELECT 1 FROM blocks WHERE (blocker = ?1 AND blocked = ?2) OR "
                  "(blocker = ?2 AND blocked = ?1)",
                  std::move(reply), a, b);
}

}  // namespace ringcast::storage
