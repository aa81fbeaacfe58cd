// The tokens of one shard's sessions (chat/sessions/session_tokens.h).
#include "chat/sessions/session_tokens.h"

#include "chat/sessions/session_host.h"
#include "proto/json_writer.h"

namespace ringcast::chat {
namespace {

// Application close code (RFC 6455 §7.4.2, 4000-4999: private use): the connection's token
// expired; refresh it and reconnect.
constexpr uint16_t kTokenExpiredClose = 4001;
// Tokens are swept once a second (ChatShard::OnTick): the notice goes out at the last sweep
// that is sure to come before the notice time, or a sweep late by a moment would skip the whole
// window and close a session that was never told.
constexpr int64_t kSweepPeriodMs = 1000;

// The token events (token_expiring, auth_ok) both name the expiry of the token it now holds.
void SendTokenEvent(Session& session, std::string_view type) {
  JsonWriter event;
  session.Send(event.BeginObject()
                   .Field("type", type)
                   .Field("expires_at", session.token_exp_ms)
                   .EndObject()
                   .str());
}

}  // namespace

SessionTokens::SessionTokens(SessionHost& host,
                             const std::vector<storage::RevokedToken>& initially_revoked)
    : host_(host), revoked_(host.clock()) {
  for (const storage::RevokedToken& token : initially_revoked) {
    revoked_.Add(token.jti, token.expires_at_ms);
  }
}

// The exp is a wall-clock time (it is in the token); the deadline is taken once, here, as the
// monotonic time the same distance away, so a wall-clock step later changes nothing.
void SessionTokens::Set(Session& session, std::string jti, int64_t exp_s) {
  session.jti = std::move(jti);
  session.token_exp_ms = exp_s * 1000;
  session.token_ends_ms =
      host_.clock().MonotonicMs() + (session.token_exp_ms - host_.clock().WallMs());
  session.expiry_noticed = false;
}

void SessionTokens::Sweep(int64_t now_ms) {
  const int64_t notice_ms = int64_t{host_.config().token_refresh_notice_s} * 1000;
  std::vector<Session*> expired;
  for (const auto& owned : host_.sessions()) {
    Session& session = *owned;
    if (session.phase == Session::Phase::kGone) continue;
    if (now_ms >= session.token_ends_ms) {
      expired.push_back(&session);
    } else if (!session.expiry_noticed && session.phase == Session::Phase::kReady &&
               now_ms + kSweepPeriodMs >= session.token_ends_ms - notice_ms) {
      // Before hello the client could not act on it: it waits for the next sweep after hello.
      session.expiry_noticed = true;
      SendTokenEvent(session, "token_expiring");
    }
  }
  for (Session* session : expired) {
    host_.CloseSession(*session, kTokenExpiredClose, "token expired");
  }
  revoked_.Sweep();
}

void SessionTokens::Renew(Session& session, std::string jti, int64_t exp_s) {
  Set(session, std::move(jti), exp_s);
  SendTokenEvent(session, "auth_ok");
}

void SessionTokens::OnRevoked(int64_t user, const std::string& jti, int64_t exp_ms) {
  revoked_.Add(jti, exp_ms);
  const std::span<Session* const> sessions = host_.SessionsOf(user);
  for (Session* session : std::vector<Session*>(sessions.begin(), sessions.end())) {
    if (RevokedTokens::Covers(jti, session->jti)) {
      host_.CloseSession(*session, 1008, "token revoked");
    }
  }
}

void SessionTokens::OnRevokedList(const std::vector<storage::RevokedToken>& revoked) {
  bool any_new = false;
  for (const storage::RevokedToken& token : revoked) {
    any_new |= revoked_.Add(token.jti, token.expires_at_ms);
  }
  if (!any_new) return;
  std::vector<Session*> closing;
  for (const auto& session : host_.sessions()) {
    if (session->phase != Session::Phase::kGone && revoked_.Contains(session->jti)) {
      closing.push_back(session.get());
    }
  }
  for (Session* session : closing) host_.CloseSession(*session, 1008, "token revoked");
}

}  // namespace ringcast::chat
