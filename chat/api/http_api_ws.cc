// The chat's /ws upgrade (proto/PROTOCOL.md, "WebSocket: GET /ws"): the token check, then the
// per-address connection count (--max-conns-per-ip) on the address's owner shard, then 101 and
// a session, or 429.
#include <memory>
#include <optional>
#include <string>

#include "chat/api/http_api.h"
#include "chat/chat_shard.h"
#include "core/net/client_address.h"
#include "core/runtime/shard.h"

namespace ringcast::chat {

void HttpApi::HandleWebSocket(HttpExchange& exchange) {
  std::string error;
  auto auth = Authenticate(exchange, true, &error);
  if (!auth) return exchange.RespondError(401, error, "WWW-Authenticate: Bearer\r\n");
  std::string accept;
  std::optional<DeferredHttp> deferred = exchange.DeferUpgrade(&accept);
  if (!deferred) return;  // Not a valid handshake: answered.
  // The address is the TCP peer's, or the one a trusted proxy names, as for the login limit.
  AdmitAddress(exchange.connection(),
               ForwardedHeaders::From(exchange.request(), config_.trusted_proxies),
               [deferred = *deferred, accept = std::move(accept), auth = std::move(*auth)](
                   HttpApi& api, std::string address, bool admitted) mutable {
                 api.FinishUpgrade(deferred, accept, std::move(auth), std::move(address), admitted);
               });
}

void HttpApi::AdmitAddress(Connection& conn, ForwardedHeaders forwarded,
                           storage::UniqueFunction<void(HttpApi&, std::string, bool)> then) {
  shard_.PeerAddress(conn, [this, then = std::make_shared<decltype(then)>(std::move(then)),
                            forwarded = std::move(forwarded)](std::string peer) mutable {
    std::string address = ClientAddress(peer, forwarded, config_.trusted_proxies);
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
                            Authenticated auth, std::string address, bool admitted) {
  if (!admitted) {
    return AnswerError(deferred, 429,
                       "too many connections from this address (--max-conns-per-ip)");
  }
  // Revoked while the address was being counted: as if it had been before.
  if (sessions_.revoked(auth.jti)) {
    ConnectionClosed(service_, std::move(address));
    return AnswerError(deferred, 401, "token revoked", "WWW-Authenticate: Bearer\r\n");
  }
  Connection* conn = shard_.UpgradeDeferred(deferred, accept, &ws_handler_);
  if (conn == nullptr) return ConnectionClosed(service_, std::move(address));  // Gone meanwhile.
  sessions_.Open(*conn, auth.user, std::move(auth.jti), auth.exp, std::move(address));
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
