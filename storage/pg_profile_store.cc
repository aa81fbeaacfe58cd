// PgChatStore's profiles, logins, account deletion and blocks (profile_store.h; schema v10,
// storage/SCHEMA.md "Profiles, logins and blocks"). The same rules as sqlite_profile_store.cc;
// a job's statements are pipelined, so what depends on an earlier result is one statement.
#include "storage/account_store.h"
#include "storage/pg_schema.h"
#include "storage/pg_store_internal.h"
#include "storage/profile_name.h"

namespace ringcast::storage {

using namespace pg_internal;  // NOLINT: the backend's shared helpers.

namespace {

#define RC_PROFILE_COLUMNS \
  "id, username, display_name, avatar_upload, status_text, deleted_at IS NOT NULL"

// The families of user $1 that $2 (only this one) and $3 (all but this one) pick, ended: their
// refresh tokens and rows deleted, each written to revoked_tokens until $4 (its access tokens
// are refused: chat/sessions/revoked_tokens.h). Families with refresh tokens but no row are from
// before schema v10.
#define RC_END_LOGINS                                                                       \
  "WITH fam AS (SELECT family FROM logins WHERE user_id = $1::int8 UNION "                  \
  "  SELECT family FROM refresh_tokens WHERE user_id = $1::int8), "                         \
  "chosen AS (SELECT family FROM fam WHERE ($2::text IS NULL OR family = $2::text) "        \
  "  AND ($3::text IS NULL OR family <> $3::text)), "                                       \
  "t AS (DELETE FROM refresh_tokens WHERE family IN (SELECT family FROM chosen)), "         \
  "l AS (DELETE FROM logins WHERE family IN (SELECT family FROM chosen)), "                 \
  "r AS (INSERT INTO revoked_tokens (jti, expires_at) SELECT family, $4::int8 FROM chosen " \
  "  ON CONFLICT (jti) DO UPDATE SET expires_at = "                                         \
  "  greatest(revoked_tokens.expires_at, excluded.expires_at)) "                            \
  "SELECT family FROM chosen"

constexpr PgStatement kProfileStatements[] = {
    {"find_profiles",
     "SELECT " RC_PROFILE_COLUMNS " FROM users WHERE id = ANY ($1::int8[]) ORDER BY id"},
    // The bounds come from UsernamePrefixRange (account_store.h); index users_username_prefix.
    {"search_profiles_names",
     "SELECT " RC_PROFILE_COLUMNS " FROM users WHERE lower(username) COLLATE \"C\" >= $1 "
     "AND lower(username) COLLATE \"C\" < $2 AND deleted_at IS NULL "
     "ORDER BY lower(username) COLLATE \"C\" LIMIT $3::int8"},
    // The bounds come from NameWordPrefixRange (profile_name.h); user_name_words' key.
    {"search_profiles_words",
     "SELECT " RC_PROFILE_COLUMNS " FROM users WHERE id IN (SELECT user_id FROM "
     "user_name_words WHERE word >= $1 AND word < $2 ORDER BY word LIMIT $3::int8) "
     "AND deleted_at IS NULL ORDER BY lower(username) COLLATE \"C\""},
    // $2/$4/$6: whether display name, avatar, status are given. The avatar must be an image of
    // the user's own with a thumbnail. The words of a new name replace the old: no row is both
    // deleted and inserted by the one statement.
    {"update_profile",
     "WITH upd AS (UPDATE users SET "
     "display_name = CASE WHEN $2::bool THEN $3::text ELSE display_name END, "
     "avatar_upload = CASE WHEN $4::bool THEN $5::text ELSE avatar_upload END, "
     "status_text = CASE WHEN $6::bool THEN $7::text ELSE status_text END "
     "WHERE id = $1::int8 AND deleted_at IS NULL AND (NOT $4::bool OR $5::text IS NULL OR "
     "EXISTS (SELECT 1 FROM uploads WHERE id = $5::text AND owner_id = $1::int8 AND "
     "type LIKE 'image/%' AND thumb_sha256 <> '')) RETURNING " RC_PROFILE_COLUMNS "), "
     "del AS (DELETE FROM user_name_words WHERE user_id = $1::int8 AND $2::bool AND "
     "EXISTS (SELECT 1 FROM upd) AND NOT (word = ANY ($8::text[]))), "
     "ins AS (INSERT INTO user_name_words (word, user_id) SELECT DISTINCT w, $1::int8 FROM "
     "unnest($8::text[]) w WHERE $2::bool AND EXISTS (SELECT 1 FROM upd) ON CONFLICT DO NOTHING) "
     "SELECT * FROM upd"},
    {"profile_exists", "SELECT 1 FROM users WHERE id = $1::int8 AND deleted_at IS NULL"},
    {"set_password_hash",
     "UPDATE users SET password_hash = $2 WHERE id = $1::int8 AND deleted_at IS NULL "
     "RETURNING id"},
    // Rows of logins whose every refresh token has expired go with each new login.
    {"store_login",
     "WITH pruned AS (DELETE FROM logins WHERE user_id = $2::int8 AND NOT EXISTS (SELECT 1 FROM "
     "refresh_tokens t WHERE t.family = logins.family)) "
     "INSERT INTO logins (family, user_id, created_at, last_used_at, user_agent, address) "
     "VALUES ($1, $2::int8, $3::int8, $3::int8, $4, $5)"},
    {"touch_login", "UPDATE logins SET last_used_at = $2::int8 WHERE family = $1"},
    {"list_logins",
     "SELECT family, created_at, last_used_at, user_agent, address FROM logins l "
     "WHERE user_id = $1::int8 AND EXISTS (SELECT 1 FROM refresh_tokens t WHERE "
     "t.family = l.family AND t.expires_at > $2::int8) ORDER BY created_at DESC, family"},
    {"end_logins", RC_END_LOGINS},
    // The username is released: a name no registration can take ('~' is outside the username
    // alphabet) keeps the index unique; the empty hash matches no password.
    {"delete_account_mark",
     "UPDATE users SET username = '~deleted~' || id, password_hash = '', email = NULL, "
     "display_name = NULL, avatar_upload = NULL, status_text = NULL, deleted_at = $2::int8 "
     "WHERE id = $1::int8 AND deleted_at IS NULL RETURNING id"},
    // The groups it is in: the caller removes it through RemoveMember, which tells the members.
    {"delete_account_rest",
     "WITH w AS (DELETE FROM user_name_words WHERE user_id = $1::int8), "
     "p AS (DELETE FROM push_subscriptions WHERE user_id = $1::int8), "
     "b AS (DELETE FROM blocks WHERE blocker = $1::int8 OR blocked = $1::int8) "
     "SELECT uc.conversation_id FROM users_conversations uc JOIN conversations c ON "
     "c.id = uc.conversation_id WHERE uc.user_id = $1::int8 AND c.is_group "
     "ORDER BY uc.conversation_id"},
    {"block_add",
     "INSERT INTO blocks (blocker, blocked, created_at) SELECT $1::int8, id, $3::int8 FROM users "
     "WHERE id = $2::int8 AND deleted_at IS NULL ON CONFLICT DO NOTHING"},
    {"block_exists", "SELECT 1 FROM blocks WHERE blocker = $1::int8 AND blocked = $2::int8"},
    {"block_remove", "DELETE FROM blocks WHERE blocker = $1::int8 AND blocked = $2::int8"},
    {"list_blocks",
     "SELECT " RC_PROFILE_COLUMNS " FROM users WHERE id IN (SELECT blocked FROM blocks WHERE "
     "blocker = $1::int8) ORDER BY id"},
    {"either_blocks",
     "SELECT 1 FROM blocks WHERE (blocker = $1::int8 AND blocked = $2::int8) OR "
     "(blocker = $2::int8 AND blocked = $1::int8)"},
    // One row when $2 is a member of $1: is_group, whether a block parts the caller from another
    // member, at most $3 other members (the most recently delivered to first).
    {"call_peers",
     "SELECT c.is_group, EXISTS (SELECT 1 FROM users_conversations o JOIN blocks b ON "
     "(b.blocker = $2::int8 AND b.blocked = o.user_id) OR (b.blocker = o.user_id AND "
     "b.blocked = $2::int8) WHERE o.conversation_id = $1::int8 AND o.user_id <> $2::int8), "
     "array(SELECT user_id FROM users_conversations WHERE conversation_id = $1::int8 AND "
     "user_id <> $2::int8 ORDER BY delivered_seq DESC, user_id LIMIT $3::int8) "
     "FROM conversations c JOIN users_conversations me ON "
     "me.conversation_id = c.id AND me.user_id = $2::int8 WHERE c.id = $1::int8"},
};

Profile ReadProfile(const Row& row) {
  Profile profile{.id = row.Int(0), .deleted = row.Bool(5)};
  if (profile.deleted) return profile;
  profile.username = row.Text(1);
  if (!row.Null(2)) profile.display_name = row.Text(2);
  if (!row.Null(3)) profile.avatar = row.Text(3);
  if (!row.Null(4)) profile.status = row.Text(4);
  return profile;
}

std::vector<std::string> Families(const PGresult* result) {
  std::vector<std::string> families;
  ForEachRow(result, [&](const Row& row) { families.push_back(row.Text(0)); });
  return families;
}

PgQuery EndLoginsQuery(int64_t user, const LoginSelection& which, int64_t revoked_until_ms) {
  return PgQuery{.statement = "end_logins",
                 .values = {Int(user), which.only.value_or(""), which.keep.value_or(""),
                            Int(revoked_until_ms)},
                 .nulls = {false, !which.only, !which.keep, false}};
}

}  // namespace

std::span<const PgStatement> PgProfileStatements() { return kProfileStatements; }

void PgChatStore::FindProfiles(std::vector<int64_t> ids, Reply<std::vector<Profile>> reply) {
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead,
         {PgQuery{
             .statement = "find_profiles", .values = {pg::Int8ArrayBinary(ids)}, .binary = {true}}},
         RowsInto(ReadProfile), std::move(reply));
}

void PgChatStore::SearchProfiles(std::string prefix, uint32_t limit,
                                 Reply<std::vector<Profile>> reply) {
  // An empty range ("" to "") where a prefix cannot match: the same reply shape.
  std::optional<UsernameRange> names = UsernamePrefixRange(prefix);
  if (!names) names = UsernameRange{};
  std::optional<NameWordRange> words = NameWordPrefixRange(prefix);
  if (!words) words = NameWordRange{};
  Submit(
      *pipeline_, PgPipeline::kReaders, Kind::kRead,
      {Query("search_profiles_names", {std::move(names->low), std::move(names->high), Int(limit)}),
       Query("search_profiles_words",
             {std::move(words->low), std::move(words->high), Int(int64_t{limit} * 2)})},
      [limit](PgResults results, std::vector<Profile>& out) {
        // Usernames first, then display-name words, without repeats (sqlite_profile_store.cc).
        for (const PGresult* result : results) {
          ForEachRow(result, [&](const Row& row) {
            if (out.size() >= limit) return;
            const int64_t id = row.Int(0);
            for (const Profile& seen : out) {
              if (seen.id == id) return;
            }
            out.push_back(ReadProfile(row));
          });
        }
        return Status();
      },
      std::move(reply));
}

void PgChatStore::UpdateProfile(int64_t user, ProfileChange change, Reply<ProfileOutcome> reply) {
  auto flag = [](bool given) { return std::string(given ? "t" : "f"); };
  const std::optional<std::string> name = change.display_name.value_or(std::nullopt);
  const std::optional<std::string> avatar = change.avatar.value_or(std::nullopt);
  const std::optional<std::string> status = change.status.value_or(std::nullopt);
  std::vector<const std::string*> word_refs;
  for (const std::string& word : change.name_words) word_refs.push_back(&word);
  PgQuery update{.statement = "update_profile",
                 .values = {Int(user), flag(change.display_name.has_value()), name.value_or(""),
                            flag(change.avatar.has_value()), avatar.value_or(""),
                            flag(change.status.has_value()), status.value_or(""),
                            pg::TextArrayBinary(word_refs)},
                 .nulls = {false, false, !name, false, !avatar, false, !status, false},
                 .binary = {false, false, false, false, false, false, false, true}};
  Submit(
      *pipeline_, LaneOf(user), Kind::kWrite,
      {std::move(update), Query("profile_exists", {Int(user)})},
      [](PgResults results, ProfileOutcome& out) {
        if (PQntuples(results[0]) == 1) {
          out.profile = ReadProfile(Row{results[0], 0});
        } else {
          out.denial = PQntuples(results[1]) == 0 ? Denial::kNotFound : Denial::kForbidden;
        }
        return Status();
      },
      std::move(reply));
}

void PgChatStore::SetPasswordHash(int64_t user, std::string password_hash, Reply<bool> reply) {
  Submit(*pipeline_, LaneOf(user), Kind::kIdempotentWrite,
         {Query("set_password_hash", {Int(user), std::move(password_hash)})}, AnyRow,
         std::move(reply));
}

void PgChatStore::StoreLogin(LoginRecord login, Reply<bool> reply) {
  Submit(*pipeline_, 0, Kind::kWrite,
         {Query("store_login", {std::move(login.family), Int(login.user), Int(login.created_at),
                                std::move(login.user_agent), std::move(login.address)})},
         Done, std::move(reply));
}

void PgChatStore::TouchLogin(std::string family, int64_t now, Reply<bool> reply) {
  Submit(*pipeline_, 0, Kind::kIdempotentWrite,
         {Query("touch_login", {std::move(family), Int(now)})}, Done, std::move(reply));
}

void PgChatStore::ListLogins(int64_t user, int64_t now, Reply<std::vector<LoginRecord>> reply) {
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead,
         {Query("list_logins", {Int(user), Int(now)})}, RowsInto([user](const Row& row) {
           return LoginRecord{.family = row.Text(0),
                              .user = user,
                              .created_at = row.Int(1),
                              .last_used_at = row.Int(2),
                              .user_agent = row.Text(3),
                              .address = row.Text(4)};
         }),
         std::move(reply));
}

void PgChatStore::EndLogins(int64_t user, LoginSelection which, int64_t revoked_until_ms,
                            int64_t /*now*/, Reply<std::vector<std::string>> reply) {
  Submit(
      *pipeline_, 0, Kind::kWrite, {EndLoginsQuery(user, which, revoked_until_ms)},
      [](PgResults results, std::vector<std::string>& out) {
        out = Families(results[0]);
        return Status();
      },
      std::move(reply));
}

void PgChatStore::DeleteAccount(int64_t user, int64_t revoked_until_ms, int64_t now,
                                Reply<DeletedAccount> reply) {
  Submit(
      *pipeline_, 0, Kind::kWrite,
      {Query("delete_account_mark", {Int(user), Int(now)}),
       EndLoginsQuery(user, {}, revoked_until_ms), Query("delete_account_rest", {Int(user)})},
      [](PgResults results, DeletedAccount& out) {
        out.found = PQntuples(results[0]) > 0;
        if (!out.found) return Status();
        out.families = Families(results[1]);
        ForEachRow(results[2], [&](const Row& row) { out.groups.push_back(row.Int(0)); });
        return Status();
      },
      std::move(reply));
}

void PgChatStore::SetBlock(int64_t blocker, int64_t blocked, bool on, int64_t now,
                           Reply<Denial> reply) {
  if (!on) {
    Submit(
        *pipeline_, LaneOf(blocker), Kind::kIdempotentWrite,
        {Query("block_remove", {Int(blocker), Int(blocked)})},
        [](PgResults, Denial& out) {
          out = Denial::kNone;
          return Status();
        },
        std::move(reply));
    return;
  }
  Submit(
      *pipeline_, LaneOf(blocker), Kind::kIdempotentWrite,
      {Query("block_add", {Int(blocker), Int(blocked), Int(now)}),
       Query("block_exists", {Int(blocker), Int(blocked)})},
      [](PgResults results, Denial& out) {
        out = PQntuples(results[1]) > 0 ? Denial::kNone : Denial::kUnknownUser;
        return Status();
      },
      std::move(reply));
}

void PgChatStore::ListBlocks(int64_t user, Reply<std::vector<Profile>> reply) {
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead, {Query("list_blocks", {Int(user)})},
         RowsInto(ReadProfile), std::move(reply));
}

void PgChatStore::EitherBlocks(int64_t a, int64_t b, Reply<bool> reply) {
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead, {Query("either_blocks", {Int(a), Int(b)})},
         AnyRow, std::move(reply));
}

void PgChatStore::FindCallPeers(int64_t conv, int64_t caller, uint32_t max_others,
                                Reply<storage::CallPeers> reply) {
  // The primary's pipeline, never a replica's: whom a call may hold is checked against the
  // membership as it is now.
  Submit(
      *pipeline_, PgPipeline::kReaders, Kind::kRead,
      {Query("call_peers", {Int(conv), Int(caller), Int(max_others)})},
      [](PgResults results, storage::CallPeers& out) {
        out.denial = Denial::kForbidden;
        ForEachRow(results[0], [&](const Row& row) {
          out.group = row.Bool(0);
          // Blocks part a 1:1 only: a group's members may block each other and still meet.
          if (!out.group && row.Bool(1)) return;
          out.denial = Denial::kNone;
          out.others = row.Ints(2);
        });
        return Status();
      },
      std::move(reply));
}

}  // namespace ringcast::storage
