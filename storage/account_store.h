// AccountStore: users, logins, revoked and refresh tokens, profile bits (last online, email),
// user search, and the database's instance id. Replies as store_types.h says.
//
// Called from shards (the HTTP API, sessions) and at start (revoked tokens, instance id).
// Backends: SqliteChatStore (sqlite_chat_store.cc, sqlite_token_store.cc, sqlite_push_store.cc)
// and PgChatStore (pg_chat_store.cc, pg_token_store.cc, pg_push_store.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/store_types.h"

namespace ringcast::storage {

// A token that logout revoked, until its own expiry.
struct RevokedToken {
  std::string jti;
  int64_t expires_at_ms = 0;
  bool operator==(const RevokedToken&) const = default;
};

struct UserLogin {
  int64_t id = 0;
  std::string password_hash;
  int64_t created_at = 0;  // ms: with the store's instance id, names the account for good.
};

// A refresh token (POST /api/token/refresh) as the store keeps it: only the SHA-256 of the
// token, so a copy of the database lends no session. Every token a login issues and every token
// its rotations issue share one `family`, which logout (or a reuse) deletes as a whole.
struct RefreshToken {
  std::string hash;  // Lowercase hex SHA-256 of the token.
  int64_t user = 0;
  std::string family;
  int64_t expires_at_ms = 0;
};

enum class RefreshOutcome : uint8_t {
  kRotated,  // The token was live and unused: it is used now, and the new one stored.
  kUnknown,  // No such token, or expired, or its family revoked.
  kReused,   // Used before: a copy is in someone else's hands; its whole family is deleted.
};

struct RefreshRotation {
  RefreshOutcome outcome = RefreshOutcome::kUnknown;
  int64_t user = 0;             // kRotated.
  int64_t user_created_at = 0;  // kRotated: the account's created_at (ms).
  std::string family;           // kRotated.
};

// A user found by SearchUsers or FindUsers: the username as registered (its case kept).
struct UserMatch {
  int64_t id = 0;
  std::string username;
  bool operator==(const UserMatch&) const = default;
};

// GET /api/me: who a token belongs to.
struct Account {
  int64_t id = 0;
  std::string username;
  std::optional<std::string> email;
};

// The range of lowercased usernames that start with `prefix` (ignoring ASCII case):
// [low, high), both lowercase, for an index in byte order (SQLite's NOCASE, PostgreSQL's
// lower(username) COLLATE "C"). nullopt when nothing can match: usernames are printable ASCII
// (the API's alphabet is narrower still), so a prefix with any other byte names nobody.
struct UsernameRange {
  std::string low, high;
};
inline std::optional<UsernameRange> UsernamePrefixRange(std::string_view prefix) {
  UsernameRange range;
  for (char c : prefix) {
    if (c < 0x21 || c > 0x7E) return std::nullopt;
    range.low.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  // Every string that starts with `low` sorts below `low` with its last byte incremented, and
  // none that does not start with it sorts between the two. An empty prefix: every username
  // (all sort below DEL).
  range.high = range.low;
  if (range.high.empty()) {
    range.high.push_back('\x7f');
  } else {
    range.high.back() = static_cast<char>(range.high.back() + 1);
  }
  return range;
}

#define RINGCAST_ACCOUNT_STORE_OPS(OP)                                                             \
  /* Denial kTaken, or the new user's id. */                                                       \
  OP(CreateUser, (std::string username, std::string password_hash, int64_t now,                    \
                  Reply<std::pair<Denial, int64_t>> reply))                                        \
  OP(FindLogin, (std::string username, Reply<std::optional<UserLogin>> reply))                     \
  OP(RevokeToken, (std::string jti, int64_t expires_at_ms, Reply<bool> reply))                     \
  /* Unexpired revoked tokens (for every shard's revocation set at start). */                      \
  OP(LoadRevoked, (int64_t now, Reply<std::vector<RevokedToken>> reply))                           \
  /* The random id made when the database was created and kept in it (SQLite's meta,               \
     PostgreSQL's server_settings: "instance_id"): another database, even at the same address,     \
     has another. */                                                                               \
  OP(InstanceId, (Reply<std::string> reply))                                                       \
  /* Refresh tokens (sqlite_token_store.cc, pg_token_store.cc). Store drops the expired ones. */   \
  OP(StoreRefreshToken, (RefreshToken token, int64_t now, Reply<bool> reply))                      \
  /* Uses the token hashed `old_hash` once: when live and unused, marks it used and stores         \
     `next_hash` in its family until `next_expires_at_ms`, in one transaction. */                  \
  OP(RotateRefreshToken, (std::string old_hash, std::string next_hash, int64_t next_expires_at_ms, \
                          int64_t now, Reply<RefreshRotation> reply))                              \
  OP(RevokeRefreshFamily, (std::string family, Reply<bool> reply))                                 \
  OP(SetLastOnline, (int64_t user, int64_t ts, Reply<bool> reply))                                 \
  /* Users whose username starts with `prefix`, ignoring ASCII case (as usernames are unique       \
     and logged in with), ordered by lowercased username, at most `limit`. Served by an index      \
     on both backends (storage/SCHEMA.md); a read. */                                              \
  OP(SearchUsers, (std::string prefix, uint32_t limit, Reply<std::vector<UserMatch>> reply))       \
  /* The users among `ids` that exist, ordered by id (how a client names a member or a sender      \
     it knows only by id); unknown ids are absent. The caller bounds the count; a read. */         \
  OP(FindUsers, (std::vector<int64_t> ids, Reply<std::vector<UserMatch>> reply))                   \
  /* Sets (nullopt: clears) `user`'s email address (notify/email; storage/SCHEMA.md:               \
     users.email); replies false when there is no such user. */                                    \
  OP(SetEmail, (int64_t user, std::optional<std::string> email, Reply<bool> reply))                \
  OP(FindAccount, (int64_t user, Reply<std::optional<Account>> reply))

class AccountStore {
 public:
  virtual ~AccountStore() = default;
  RINGCAST_ACCOUNT_STORE_OPS(RINGCAST_STORE_OP_PURE)
};

}  // namespace ringcast::storage
