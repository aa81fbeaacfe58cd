// HttpApi: what every chat HTTP route of one shard shares, and nothing of any one route: the
// token check (a bearer header, ?token=, a STOMP CONNECT's token), the answers of a deferred
// request (JSON, errors, a store's failure or refusal), the shard's collaborators a handler
// reaches through it, and the count of open chat connections per client address
// (--max-conns-per-ip) for the addresses whose hash this shard owns.
//
// The routes themselves are rows of their families' tables (chat/api/http_routes.h): a
// handler is a free function in its family's file (chat/ops/<family>_ops.cc, the transports in
// chat/api/transport_routes.cc) that takes this shard's HttpApi.
//
// Owner: its shard's thread (one per ChatShard). Blocking work (password hashing) goes to the
// worker pool and every store call to the store's threads; their results come back as mail.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "chat/api/http_routes.h"
#include "chat/config.h"
#include "chat/sessions/rate_limit.h"
#include "core/net/client_address.h"
#include "core/net/http_exchange.h"
#include "storage/chat_store.h"
#include "storage/unique_function.h"

namespace ringcast {
class Shard;
class WebSocketHandler;
}  // namespace ringcast

namespace ringcast::chat {

class AttemptCounter;
class ChatService;
class ChatShard;
class SessionHost;
class SseHub;
class StompGateway;

class HttpApi {
 public:
  // `chat` is the shard's chat service, whose roles a route reaches through this: it takes the
  // /ws connections a route upgrades, its SessionHost their sessions (and holds the
  // revoked-token replica that every token check reads), its StompGateway the STOMP
  // connections, its SseHub the HTTP transports' channels.
  HttpApi(ChatShard& chat, Shard& shard, ChatService& service);

  ChatShard& chat() { return chat_; }
  Shard& shard() { return shard_; }
  ChatService& service() { return service_; }
  const Config& config() const { return config_; }
  WebSocketHandler& ws_handler();
  SessionHost& sessions();
  SseHub& sse();
  StompGateway& stomp();
  AttemptCounter& attempts();

  // Once a second: a new window of changes per user when the current one has ended.
  void Sweep(int64_t now_ms);

  using Authenticated = chat::Authenticated;
  // `token` verified (signature, expiry) and not revoked (`sessions`' replica); else nullopt
  // and the reason in *error ("invalid token", "token expired", "token revoked"). Also for the
  // token a STOMP CONNECT frame carries.
  static std::optional<Authenticated> VerifyToken(const ChatService& service,
                                                  const SessionHost& sessions,
                                                  std::string_view token, std::string* error);
  // The request's bearer token (or ?token= when `allow_query`), verified and not revoked; the
  // user goes to the access log's line of this exchange.
  std::optional<Authenticated> Authenticate(HttpExchange& exchange, bool allow_query,
                                            std::string* error);
  // Authorization: Bearer verified; else answers 401 and false.
  bool RequireAuth(HttpExchange& exchange, Authenticated* auth);

  // A deferred request's answers: JSON, {"error": reason}, a failed store call (503, logged
  // unless the store is known to be down), one to retry later, and a store's refusal of a
  // conversation's route (its status and reason; false, having answered nothing, for kNone).
  void Answer(const DeferredHttp& deferred, int status, std::string_view body,
              std::string_view extra_headers = {});
  void AnswerError(const DeferredHttp& deferred, int status, std::string_view reason,
                   std::string_view extra_headers = {});
  void AnswerStoreFailure(const DeferredHttp& deferred, const storage::Status& status);
  // {"error": reason} with Retry-After: a refusal to try again in `seconds` (429 past a rate,
  // 503 while a queue is full).
  void AnswerRetryLater(const DeferredHttp& deferred, int status, std::string_view reason,
                        int64_t seconds);
  bool AnswerDenial(const DeferredHttp& deferred, storage::Denial denial);

  // A change to a message over HTTP by `user`, counted against --msg-rate per second on this
  // shard (a client without a connection has no session's token bucket): 0 to go, else the
  // seconds to wait.
  int64_t PaceChange(int64_t user);

  // The client address of `exchange` (the peer, or what a trusted proxy forwards:
  // core/net/client_address.h), then `then(address)` here: what login attempts and password
  // checks are counted by. "" when unknown (never expected on TCP).
  void ClientAddressOf(HttpExchange& exchange, std::function<void(std::string)> then);
  // The client address of `conn` (the peer, or what a trusted proxy forwards) counted on its
  // owner shard under --max-conns-per-ip; then `then(api, address, admitted)` back here.
  void AdmitAddress(Connection& conn, ForwardedHeaders forwarded,
                    storage::UniqueFunction<void(HttpApi&, std::string, bool)> then);
  // A chat connection admitted by AdmitAddress (its session's address) has closed: the
  // address's owner shard counts one fewer. Any shard; "" (never counted) does nothing.
  static void ConnectionClosed(ChatService& service, std::string address);

 private:
  static uint32_t AddressOwner(const ChatService& service, const std::string& address);

  ChatShard& chat_;
  Shard& shard_;
  ChatService& service_;
  const Config& config_;
  LoginLimiter change_limiter_;              // Changes to messages per user per second.
  ConnectionsPerAddress conns_per_address_;  // Chat connections, for the addresses it owns.
};

}  // namespace ringcast::chat
