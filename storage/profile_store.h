// ProfileStore: profiles (display name, avatar, status text), user lookup and search with them,
// logins (the sessions list: one row per refresh-token family), password change, account
// deletion and blocks (issue 25, part c; storage/SCHEMA.md "Profiles, logins and blocks").
// Replies as store_types.h says.
//
// Called from shards (the HTTP API). Backends: SqliteChatStore (sqlite_profile_store.cc) and
// PgChatStore (pg_profile_store.cc), with the same rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/store_types.h"

namespace ringcast::storage {

// A user as every listing shows them. A deleted account keeps its id (its messages name it)
// and loses everything else: username "" and deleted true.
struct Profile {
  int64_t id = 0;
  std::string username;
  std::optional<std::string> display_name;
  std::optional<std::string> avatar;  // Upload id (the API makes it a URL).
  std::optional<std::string> status;
  bool deleted = false;
  bool operator==(const Profile&) const = default;
};

// PATCH /api/me: the fields given (an outer nullopt: unchanged; an inner nullopt: cleared).
struct ProfileChange {
  std::optional<std::optional<std::string>> display_name;
  // The lowercased words of the new display name (user search), when display_name is given.
  std::vector<std::string> name_words;
  std::optional<std::optional<std::string>> avatar;
  std::optional<std::optional<std::string>> status;
};

// kNotFound: no such user; kForbidden: the avatar is not an image upload of the user's own.
struct ProfileOutcome {
  Denial denial = Denial::kNone;
  Profile profile;  // As it is now (kNone).
};

// One login (a refresh-token family) as GET /api/me/sessions shows it.
struct LoginRecord {
  std::string family;
  int64_t user = 0;
  int64_t created_at = 0;  // ms
  int64_t last_used_at = 0;
  std::string user_agent;  // As the login request sent it ("" when none).
  std::string address;     // The client address the login came from.
  bool operator==(const LoginRecord&) const = default;
};

// Which of a user's logins EndLogins ends.
struct LoginSelection {
  std::optional<std::string> only;  // This family alone (when it is the user's).
  std::optional<std::string> keep;  // Every family but this one.
};

// What DeleteAccount did: the logins it ended (the caller revokes their access tokens live)
// and the groups the user left.
struct DeletedAccount {
  bool found = false;
  std::vector<std::string> families;
  std::vector<int64_t> groups;
};

#define RINGCAST_PROFILE_STORE_OPS(OP)                                                          \
  /* The profiles of the users among `ids`, ordered by id; unknown ids are absent; a read. */   \
  OP(FindProfiles, (std::vector<int64_t> ids, Reply<std::vector<Profile>> reply))               \
  /* Users whose username starts with `prefix` (ASCII case ignored) or one of whose display     \
     name's words starts with it (lowercased as the words were, ProfileChange::name_words),     \
     ordered by lowercased username, at most `limit`; deleted accounts never match; a read. */  \
  OP(SearchProfiles, (std::string prefix, uint32_t limit, Reply<std::vector<Profile>> reply))   \
  OP(UpdateProfile, (int64_t user, ProfileChange change, Reply<ProfileOutcome> reply))          \
  /* Replaces the password hash; false when there is no such (live) user. */                    \
  OP(SetPasswordHash, (int64_t user, std::string password_hash, Reply<bool> reply))             \
  /* Records a new login (after its first refresh token is stored). */                          \
  OP(StoreLogin, (LoginRecord login, Reply<bool> reply))                                        \
  /* A login's refresh token was rotated: its last use is `now`. */                             \
  OP(TouchLogin, (std::string family, int64_t now, Reply<bool> reply))                          \
  /* The user's logins that still hold a live refresh token, newest first; a read. */           \
  OP(ListLogins, (int64_t user, int64_t now, Reply<std::vector<LoginRecord>> reply))            \
  /* Ends the user's logins chosen by `which` in one transaction: their refresh tokens and rows \
     are deleted and each family is written to revoked_tokens until `revoked_until_ms` (its     \
     access tokens are refused from then on: chat/sessions/revoked_tokens.h). Replies with the  \
     families ended (families with refresh tokens but no row, from before schema v10, too). */  \
  OP(EndLogins, (int64_t user, LoginSelection which, int64_t revoked_until_ms, int64_t now,     \
                 Reply<std::vector<std::string>> reply))                                        \
  /* Deletes the account as storage/SCHEMA.md says (profile, email, password, push              \
     subscriptions, blocks, logins and group memberships go; the id and its messages stay,      \
     anonymized), ending its logins as EndLogins does. */                                       \
  OP(DeleteAccount,                                                                             \
     (int64_t user, int64_t revoked_until_ms, int64_t now, Reply<DeletedAccount> reply))        \
  /* Blocks (`on`) or unblocks `blocked` for `blocker`: kUnknownUser when `blocked` does not    \
     exist (or is deleted); idempotent. */                                                      \
  OP(SetBlock, (int64_t blocker, int64_t blocked, bool on, int64_t now, Reply<Denial> reply))   \
  /* The profiles `user` has blocked, ordered by id; a read. */                                 \
  OP(ListBlocks, (int64_t user, Reply<std::vector<Profile>> reply))                             \
  /* Whether either of `a` and `b` blocks the other; a read. */                                 \
  OP(EitherBlocks, (int64_t a, int64_t b, Reply<bool> reply))

class ProfileStore {
 public:
  virtual ~ProfileStore() = default;
  RINGCAST_PROFILE_STORE_OPS(RINGCAST_STORE_OP_PURE)
};

}  // namespace ringcast::storage
