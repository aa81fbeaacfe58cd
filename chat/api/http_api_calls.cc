// GET /api/calls/ice-servers (proto/PROTOCOL.md, "Calls: ICE servers"): the STUN and TURN
// servers for a call, with a TURN credential of the caller's own (chat/calls/ice_servers.h).
#include "chat/api/http_api.h"
#include "chat/calls/ice_servers.h"
#include "chat/service.h"

namespace ringcast::chat {

void HttpApi::HandleIceServers(HttpExchange& exchange, const RouteCall& call) {
  // A credential is the caller's alone, and short-lived: no cache may keep or share it.
  exchange.Respond(200, "application/json",
                   EncodeIceServers(config_.ice_servers, call.auth.user, NowMs() / 1000),
                   "Cache-Control: no-store\r\n");
}

}  // namespace ringcast::chat
