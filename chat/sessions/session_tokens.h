// SessionTokens: the tokens of one shard's sessions (proto/PROTOCOL.md, "Token expiry"): each
// session's expiry as a deadline on the monotonic clock, the token_expiring notice and the 4001
// close that the once-a-second sweep sends, the auth request that gives an open session a newer
// token (its request: chat/ops/session_ops.cc), and the replica of revoked token ids that every
// token check on this shard reads (a revocation closes the sessions holding the token).
//
// Owner: its SessionHost's shard.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chat/sessions/revoked_tokens.h"
#include "storage/chat_store.h"

namespace ringcast::chat {

class SessionHost;
struct Session;

class SessionTokens {
 public:
  // The replica starts with the revocations the store held when the server started.
  SessionTokens(SessionHost& host, const std::vector<storage::RevokedToken>& initially_revoked);

  // Whether the token id `jti` has been revoked (checking never leaves the shard).
  bool revoked(const std::string& jti) const { return revoked_.Contains(jti); }

  // The session holds `jti` now, expiring at `exp_s` (wall clock, seconds, as in the token).
  void Set(Session& session, std::string jti, int64_t exp_s);
  // An auth request's token, verified: held now, and the session is told (auth_ok).
  void Renew(Session& session, std::string jti, int64_t exp_s);
  // Once a second: the notice (--token-refresh-notice before the expiry) and the close at it;
  // now and then forgets expired revocations.
  void Sweep(int64_t now_ms);

  // `user`'s token `jti` revoked (a logout, an ended login, ...): its sessions here close.
  void OnRevoked(int64_t user, const std::string& jti, int64_t exp_ms);
  // Cluster mode: the revoked tokens, from the store (after this node may have missed
  // revocations): sessions with one of them close.
  void OnRevokedList(const std::vector<storage::RevokedToken>& revoked);

 private:
  SessionHost& host_;
  RevokedTokens revoked_;
};

}  // namespace ringcast::chat
