// The session's own requests (proto/PROTOCOL.md, "Keeping a connection" and "Token expiry"):
// ping, and auth, which gives the open connection a newer access token.
// Its requests as read off the wire: chat/ops/session_wire.cc.
#include "chat/auth/jwt.h"
#include "chat/ops/op_support.h"

namespace ringcast::chat::ops {
namespace {

void RunPing(OpCall call, Request&) { call.session.Send(R"({"type":"pong"})"); }

// The connection keeps its current token (and its expiry) when the new one is refused: a refused
// auth closes nothing.
void RunAuth(OpCall call, Request& request) {
  AuthRequest& auth = std::get<AuthRequest>(request);
  auth::JwtVerifyResult verified =
      auth::VerifyJwt(auth.token, call.host.service().secret(), call.host.clock().WallMs() / 1000);
  std::string_view refusal;
  if (!verified.ok()) {
    refusal = verified.error == auth::JwtError::kExpired ? "token expired" : "invalid token";
  } else if (call.host.revoked(verified.claims.jti)) {
    refusal = "token revoked";
  } else if (verified.claims.user_id != call.session.user) {
    refusal = "the token is another user's";
  }
  if (!refusal.empty()) return call.host.SendError(call.session, "unauthorized", refusal);
  call.host.tokens().Renew(call.session, std::move(verified.claims.jti), verified.claims.exp);
}

constexpr ActionRow kActions[] = {
    {"ping", RunPing},
    {"auth", RunAuth},
};

}  // namespace

std::span<const ActionRow> SessionActions() { return kActions; }

}  // namespace ringcast::chat::ops
