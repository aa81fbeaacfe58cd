// GET /api/calls/ice-servers (proto/PROTOCOL.md, "Calls: ICE servers"): the STUN and TURN
// servers for a call, with a TURN credential of the caller's own (chat/calls/ice_servers.h).
#include "chat/calls/ice_servers.h"
#include "chat/ops/routes.h"
#include "chat/service.h"

namespace ringcast::chat {
namespace {

void HandleIceServers(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  // A credential is the caller's alone, and short-lived: no cache may keep or share it.
  exchange.Respond(200, "application/json",
                   EncodeIceServers(api.config().ice_servers, call.auth.user, NowMs() / 1000),
                   "Cache-Control: no-store\r\n");
}

}  // namespace

std::span<const HttpRoute> CallRoutes() {
  static constexpr HttpRoute kRows[] = {
      {http::Method::kGet, "/api/calls/ice-servers", RouteAccess::kBearer,
       OnApi<&HandleIceServers>},
  };
  return kRows;
}

}  // namespace ringcast::chat
