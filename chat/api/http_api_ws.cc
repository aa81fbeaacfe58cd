// The chat's WebSocket upgrades: /ws (proto/PROTOCOL.md, "WebSocket: GET /ws"): the token check,
// then the per-address connection count (--max-conns-per-ip) on the address's owner shard, then
// 101 and a session, or 429; and STOMP ("STOMP 1.2 over WebSocket"): /stomp, or /ws offering the
// subprotocol v12.stomp, counted the same way, with the token to come in the CONNECT frame.
#include <memory>
#include <optional>
#include <string>

#include "chat/api/http_api.h"
#include "chat/chat_shard.h"
#include "core/net/client_address.h"
#include "core/runtime/shard.h"

namespace ringcast::chat {
namespace {

constexpr std::string_view kStompSubprotocol = "v12.stomp";

// The request's Sec-WebSocket-Protocol list (RFC 6455 §4.1, §11.3.4); empty when absent.
std::string_view OfferedSubprotocols(const http::Request& request) {
  std::string_view offered = request.Find("Sec-WebSocket-Protocol");
  return offered.data() == nullptr ? std::string_view() : offered;
}

}  // namespace

void HttpApi::HandleWebSocket(HttpExchange& exchange) {
  // A STOMP client that found the chat at /ws: its token comes in the CONNECT frame. Any other
  // subprotocol is not answered, so a client that insists on one fails the handshake itself
  // (RFC 6455 §4.1), and a plain JSON client that offers one keeps working.
  if (http::HasToken(OfferedSubprotocols(exchange.request()), kStompSubprotocol)) {
    return CountThenUpgrade(exchange, std::nullopt, kStompSubprotocol);
  }
  std::string error;
  auto auth = Authenticate(exchange, true, &error);
  if (!auth) return exchange.RespondError(401, error, "WWW-Authenticate: Bearer\r\n");
  CountThenUpgrade(exchange, std::move(auth), {});
}

void HttpApi::HandleStomp(HttpExchange& exchange) {
  const std::string_view offered = OfferedSubprotocols(exchange.request());
  // No Sec-WebSocket-Protocol: the path says STOMP (a client library that sends none).
  if (!offered.empty() && !http::HasToken(offered, kStompSubprotocol)) {
    return exchange.RespondError(
        400, "this endpoint speaks STOMP 1.2 only: offer the subprotocol v12.stomp");
  }
  CountThenUpgrade(exchange, std::nullopt, offered.empty() ? "" : kStompSubprotocol);
}

void HttpApi::CountThenUpgrade(HttpExchange& exchange, std::optional<Authenticated> auth,
                               std::string_view subprotocol) {
  std::string accept;
  std::optional<DeferredHttp> deferred = exchange.DeferUpgrade(&accept);
  if (!deferred) return;  // Not a valid handshake: answered.
  // The address is the TCP peer's, or the one a trusted proxy names, as for the login limit.
  AdmitAddress(exchange.connection(),
               ForwardedHeaders::From(exchange.request(), config_.trusted_proxies),
               [deferred = *deferred, accept = std::move(accept), auth = std::move(auth),
                subprotocol](HttpApi& api, std::string address, bool admitted) mutable {
                 api.FinishUpgrade(deferred, accept, std::move(auth), subprotocol,
                                   std::move(address), admitted);
               });
}

void HttpApi::AdmitAddress(Connection& conn, ForwardedHeaders forwarded,
                           storage::UniqueFunction<void(HttpApi&, std::string, bool)> then) {
  shard_.PeerAddress(conn, [this, then = std::make_shared<decltype(then)>(std::move(then)),
                            forwarded = std::move(forwarded)](std::string peer) mutable {
    // Counted under its key: an IPv6 client by its network (--ipv6-prefix).
    std::string address = AddressLimitKey(ClientAddress(peer, forwarded, config_.trusted_proxies),
                                          config_.ipv6_prefix);
    // Unknown (never expected on TCP): one shared count. (push_back, not = "?": GCC 12's
    // -Wrestrict misreads the inlined literal assignment in a Release build.)
    if (address.empty()) address.push_back('?');
    const uint32_t owner = AddressOwner(service_, address);
    service_.PostOrHold(owner, [address, then = std::move(then),
                                origin = shard_.id()](ChatShard& owner_shard) mutable {
      HttpApi& owner_api = owner_shard.http_api();
      const bool admitted =
          owner_api.conns_per_address_.TryAdd(address, owner_api.config_.max_conns_per_ip);
      owner_api.service_.PostOrHold(origin, [address = std::move(address), then = std::move(then),
                                             admitted](ChatShard& back) mutable {
        (*then)(back.http_api(), std::move(address), admitted);
      });
    });
  });
}

void HttpApi::FinishUpgrade(const DeferredHttp& deferred, std::string_view accept,
                            std::optional<Authenticated> auth, std::string_view subprotocol,
                            std::string address, bool admitted) {
  if (!admitted) {
    return AnswerError(deferred, 429,
                       "too many connections from this address (--max-conns-per-ip)");
  }
  // Revoked while the address was being counted: as if it had been before.
  if (auth && sessions_.revoked(auth->jti)) {
    ConnectionClosed(service_, std::move(address));
    return AnswerError(deferred, 401, "token revoked", "WWW-Authenticate: Bearer\r\n");
  }
  const std::string extra_headers =
      subprotocol.empty() ? std::string()
                          : "Sec-WebSocket-Protocol: " + std::string(subprotocol) + "\r\n";
  Connection* conn = shard_.UpgradeDeferred(
      deferred, accept, auth ? &ws_handler_ : static_cast<WebSocketHandler*>(&stomp_),
      extra_headers);
  if (conn == nullptr) return ConnectionClosed(service_, std::move(address));  // Gone meanwhile.
  if (!auth) return stomp_.Open(*conn, std::move(address));
  sessions_.Open(*conn, auth->user, std::move(auth->jti), auth->exp, std::move(address));
}

uint32_t HttpApi::AddressOwner(const ChatService& service, const std::string& address) {
  return uint32_t(std::hash<std::string>{}(address) % service.shard_count());
}

void HttpApi::ConnectionClosed(ChatService& service, std::string address) {
  if (address.empty()) return;
  service.PostOrHold(AddressOwner(service, address),
                     [address = std::move(address)](ChatShard& owner) {
                       owner.http_api().conns_per_address_.Remove(address);
                     });
}

}  // namespace ringcast::chat
