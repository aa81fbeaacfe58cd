// A session's token: its expiry as a deadline on the monotonic clock, the token_expiring notice
// and the 4001 close that the once-a-second sweep sends, and the auth request that gives the
// open connection a newer token (proto/PROTOCOL.md, "Token expiry"; its request:
// chat/ops/session_ops.cc). Apart from session_host.cc to keep that file the sessions' own.
#include "chat/auth/jwt.h"
#include "chat/service.h"
#include "chat/sessions/session_host.h"

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

// The exp is a wall-clock time (it is in the token); the deadline is taken once, here, as the
// monotonic time the same distance away, so a wall-clock step later changes nothing.
void SessionHost::SetToken(Session& session, std::string jti, int64_t exp_s) {
  session.jti = std::move(jti);
  session.token_exp_ms = exp_s * 1000;
  session.token_ends_ms = clock_.MonotonicMs() + (session.token_exp_ms - clock_.WallMs());
  session.expiry_noticed = false;
}

void SessionHost::SweepTokens(int64_t now_ms) {
  const int64_t notice_ms = int64_t{config_.token_refresh_notice_s} * 1000;
  std::vector<Session*> expired;
  for (auto& owned : sessions_) {
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
  for (Session* session : expired) CloseSession(*session, kTokenExpiredClose, "token expired");
}

void SessionHost::RenewToken(Session& session, std::string jti, int64_t exp_s) {
  SetToken(session, std::move(jti), exp_s);
  SendTokenEvent(session, "auth_ok");
}

}  // namespace ringcast::chat
