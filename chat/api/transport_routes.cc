// The chat's transports (proto/PROTOCOL.md): each a route that opens a session, after the token
// check and the count of the new connection per client address (--max-conns-per-ip) on the
// address's owner shard.
//   GET /ws      WebSocket ("WebSocket: GET /ws"): 101 and a session, or 429.
//   GET /stomp   STOMP 1.2 over WebSocket, also /ws offering the subprotocol v12.stomp: counted
//                the same way, with the token to come in the CONNECT frame.
//   GET /sse, GET /sse/poll, POST /sse/send ("SSE and long polling"): also counted per user
//                (--sse-opens-per-minute); a POST goes to the shard (or the node) that holds its
//                session. The channels and their rules are the SseHub's (chat/sessions/sse_hub.h).
#include <charconv>
#include <memory>
#include <optional>
#include <string>

#include "chat/cluster/cluster_link.h"
#include "chat/ops/routes.h"
#include "core/net/client_address.h"
#include "core/runtime/shard.h"
#include "proto/url_path.h"

namespace ringcast::chat {
namespace {

constexpr std::string_view kStompSubprotocol = "v12.stomp";
// The header of every 401 a transport answers (RFC 6750 §3).
constexpr std::string_view kAuthenticate = "WWW-Authenticate: Bearer\r\n";

// The request's Sec-WebSocket-Protocol list (RFC 6455 §4.1, §11.3.4); empty when absent.
std::string_view OfferedSubprotocols(const http::Request& request) {
  std::string_view offered = request.Find("Sec-WebSocket-Protocol");
  return offered.data() == nullptr ? std::string_view() : offered;
}

// A query value, percent-decoded; nullopt when absent or malformed.
std::optional<std::string> DecodedParam(std::string_view query, std::string_view name) {
  auto raw = http::QueryParam(query, name);
  std::string decoded;
  if (!raw || !http::PercentDecode(*raw, &decoded)) return std::nullopt;
  return decoded;
}

void FinishUpgrade(HttpApi& api, const DeferredHttp& deferred, std::string_view accept,
                   std::optional<Authenticated> auth, std::string_view subprotocol,
                   std::string address, bool admitted) {
  if (!admitted) {
    return api.AnswerError(deferred, 429,
                           "too many connections from this address (--max-conns-per-ip)");
  }
  // Revoked while the address was being counted: as if it had been before.
  if (auth && api.sessions().revoked(auth->jti)) {
    HttpApi::ConnectionClosed(api.service(), std::move(address));
    return api.AnswerError(deferred, 401, "token revoked", kAuthenticate);
  }
  const std::string extra_headers =
      subprotocol.empty() ? std::string()
                          : "Sec-WebSocket-Protocol: " + std::string(subprotocol) + "\r\n";
  Connection* conn = api.shard().UpgradeDeferred(
      deferred, accept, auth ? &api.ws_handler() : static_cast<WebSocketHandler*>(&api.stomp()),
      extra_headers);
  if (conn == nullptr)
    return HttpApi::ConnectionClosed(api.service(), std::move(address));  // Gone meanwhile.
  if (!auth) return api.stomp().Open(*conn, std::move(address));
  api.sessions().connections().Open(*conn, auth->user, std::move(auth->jti), auth->exp,
                                    std::move(address));
}

// The upgrade waits for the client address's owner shard to count the connection
// (--max-conns-per-ip), then FinishUpgrade answers 101 (and opens the session) or 429. `auth`: a
// /ws session's token; none for STOMP (its token comes in the CONNECT frame), whose 101 names
// `subprotocol` when the client offered one (a static string: it crosses shards as a view).
void CountThenUpgrade(HttpApi& api, HttpExchange& exchange, std::optional<Authenticated> auth,
                      std::string_view subprotocol) {
  std::string accept;
  std::optional<DeferredHttp> deferred = exchange.DeferUpgrade(&accept);
  if (!deferred) return;  // Not a valid handshake: answered.
  // The address is the TCP peer's, or the one a trusted proxy names, as for the login limit.
  api.AdmitAddress(exchange.connection(),
                   ForwardedHeaders::From(exchange.request(), api.config().trusted_proxies),
                   [deferred = *deferred, accept = std::move(accept), auth = std::move(auth),
                    subprotocol](HttpApi& api, std::string address, bool admitted) mutable {
                     FinishUpgrade(api, deferred, accept, std::move(auth), subprotocol,
                                   std::move(address), admitted);
                   });
}

void HandleWebSocket(HttpApi& api, HttpExchange& exchange) {
  // A STOMP client that found the chat at /ws: its token comes in the CONNECT frame. Any other
  // subprotocol is not answered, so a client that insists on one fails the handshake itself
  // (RFC 6455 §4.1), and a plain JSON client that offers one keeps working.
  if (http::HasToken(OfferedSubprotocols(exchange.request()), kStompSubprotocol)) {
    return CountThenUpgrade(api, exchange, std::nullopt, kStompSubprotocol);
  }
  std::string error;
  auto auth = api.Authenticate(exchange, true, &error);
  if (!auth) return exchange.RespondError(401, error, kAuthenticate);
  CountThenUpgrade(api, exchange, std::move(auth), {});
}

void HandleStomp(HttpApi& api, HttpExchange& exchange) {
  const std::string_view offered = OfferedSubprotocols(exchange.request());
  // No Sec-WebSocket-Protocol: the path says STOMP (a client library that sends none).
  if (!offered.empty() && !http::HasToken(offered, kStompSubprotocol)) {
    return exchange.RespondError(
        400, "this endpoint speaks STOMP 1.2 only: offer the subprotocol v12.stomp");
  }
  CountThenUpgrade(api, exchange, std::nullopt, offered.empty() ? "" : kStompSubprotocol);
}

void AdmitSse(HttpApi& api, const DeferredHttp& deferred, Authenticated auth,
              ForwardedHeaders forwarded, bool poll) {
  Connection* conn = api.shard().Find(deferred.conn);
  if (conn == nullptr) return;
  api.AdmitAddress(
      *conn, std::move(forwarded),
      [deferred, auth = std::move(auth), poll](HttpApi& api, std::string address,
                                               bool admitted) mutable {
        if (!admitted) {
          return api.AnswerError(deferred, 429,
                                 "too many connections from this address (--max-conns-per-ip)");
        }
        // Revoked while the address was being counted, or the client gone meanwhile.
        if (api.sessions().revoked(auth.jti)) {
          HttpApi::ConnectionClosed(api.service(), std::move(address));
          return api.AnswerError(deferred, 401, "token revoked", kAuthenticate);
        }
        if (api.shard().Find(deferred.conn) == nullptr) {
          return HttpApi::ConnectionClosed(api.service(), std::move(address));
        }
        api.sse().Open(
            deferred, SseHub::Opening{auth.user, std::move(auth.jti), auth.exp, std::move(address)},
            poll ? SseHub::Mode::kPoll : SseHub::Mode::kStream);
      });
}

// A new session for a stream or a poll: counted for its user (--sse-opens-per-minute, 429 past
// it), then AdmitSse counts its address and opens it.
void OpenSse(HttpApi& api, const DeferredHttp& deferred, Authenticated auth,
             ForwardedHeaders forwarded, bool poll) {
  // Counted before anything is made for it (a session costs a store read and a channel until
  // it ends): past the rate, an open costs a counter.
  std::string key = "sse:user:" + std::to_string(auth.user);
  api.attempts().Count(std::move(key), api.config().sse_opens_per_minute,
                       [deferred, auth = std::move(auth), forwarded = std::move(forwarded), poll](
                           ChatShard& chat, int64_t retry_after_s) mutable {
                         HttpApi& api = chat.http_api();
                         if (retry_after_s > 0) {
                           return api.AnswerRetryLater(
                               deferred, 429,
                               "too many new sessions for this user (--sse-opens-per-minute)",
                               retry_after_s);
                         }
                         AdmitSse(api, deferred, std::move(auth), std::move(forwarded), poll);
                       });
}

void HandleSse(HttpApi& api, HttpExchange& exchange) {
  std::string error;
  auto auth = api.Authenticate(exchange, true, &error);
  if (!auth) return exchange.RespondError(401, error, kAuthenticate);
  const http::Request& request = exchange.request();
  // EventSource sends Last-Event-ID by itself when it reconnects; a client that builds its
  // own requests may put it in the query instead.
  std::string last_event_id(request.Find("Last-Event-ID"));
  if (last_event_id.empty())
    last_event_id = DecodedParam(request.query, "last_event_id").value_or("");
  ForwardedHeaders forwarded = ForwardedHeaders::From(request, api.config().trusted_proxies);
  const DeferredHttp deferred = exchange.Defer();
  std::string_view key;
  uint64_t last = 0;
  std::optional<SseSessionKey> where;
  if (ParseSseEventId(last_event_id, &key, &last)) where = ParseSseSessionKey(key);
  const std::string_view own_node =
      api.service().cluster() ? api.service().cluster()->node_id() : "";
  // A session of another node cannot move here: a new one starts (hello; the client syncs).
  if (!where || where->node != own_node || where->shard >= api.service().shard_count()) {
    return OpenSse(api, deferred, std::move(*auth), std::move(forwarded), false);
  }
  api.service().PostOrHold(
      where->shard,
      [asker = SseHub::Asker{api.shard().id(), deferred}, key = std::string(key), last,
       auth = std::move(*auth), forwarded = std::move(forwarded)](ChatShard& self) mutable {
        if (self.sse().Resume(asker, auth.user, key, last)) return;
        self.service().PostOrHold(
            asker.shard, [deferred = asker.deferred, auth = std::move(auth),
                          forwarded = std::move(forwarded)](ChatShard& back) mutable {
              OpenSse(back.http_api(), deferred, std::move(auth), std::move(forwarded), false);
            });
      });
}

void HandleSsePoll(HttpApi& api, HttpExchange& exchange) {
  std::string error;
  auto auth = api.Authenticate(exchange, true, &error);
  if (!auth) return exchange.RespondError(401, error, kAuthenticate);
  const http::Request& request = exchange.request();
  std::optional<std::string> key = DecodedParam(request.query, "session");
  if (!key) {
    ForwardedHeaders forwarded = ForwardedHeaders::From(request, api.config().trusted_proxies);
    return OpenSse(api, exchange.Defer(), std::move(*auth), std::move(forwarded), true);
  }
  uint64_t after = 0;
  if (auto text = http::QueryParam(request.query, "after"); text && !text->empty()) {
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), after);
    if (ec != std::errc() || end != text->data() + text->size()) {
      return exchange.RespondError(400, "after must be a non-negative integer");
    }
  }
  std::optional<SseSessionKey> where = ParseSseSessionKey(*key);
  if (!where) return exchange.RespondError(400, "malformed session id");
  const std::string_view own_node =
      api.service().cluster() ? api.service().cluster()->node_id() : "";
  if (where->node != own_node) {
    // A poll reads the buffer where the session lives: the proxy must send a session's polls
    // to one node (PROTOCOL.md). 421: this node is the wrong one to ask.
    return exchange.RespondError(421, "session is held by another node");
  }
  if (where->shard >= api.service().shard_count())
    return exchange.RespondError(404, "no such session");
  api.service().PostOrHold(
      where->shard,
      [asker = SseHub::Asker{api.shard().id(), exchange.Defer()}, key = std::move(*key),
       user = auth->user, after](ChatShard& self) { self.sse().Poll(asker, user, key, after); });
}

void HandleSsePost(HttpApi& api, HttpExchange& exchange) {
  std::string error;
  auto auth = api.Authenticate(exchange, true, &error);
  if (!auth) return exchange.RespondError(401, error, kAuthenticate);
  std::optional<std::string> key = DecodedParam(exchange.request().query, "session");
  if (!key) return exchange.RespondError(400, "missing session (?session=)");
  std::optional<SseSessionKey> where = ParseSseSessionKey(*key);
  if (!where) return exchange.RespondError(400, "malformed session id");
  const std::string_view body = exchange.body();
  if (body.find_first_not_of(" \r\n") == std::string_view::npos) {
    return exchange.RespondError(400, "empty body: one chat request per line");
  }
  // The bound of one /ws message, for all the lines of one POST.
  if (body.size() > api.config().max_message_size) {
    return exchange.RespondError(413, "body larger than --max-message-size");
  }
  const std::string_view own_node =
      api.service().cluster() ? api.service().cluster()->node_id() : "";
  if (where->node != own_node) {
    if (api.service().cluster() == nullptr || where->node.empty()) {
      return exchange.RespondError(404, "no such session");
    }
    // Over the node's Redis channel; whether the session is there is told only there (an
    // unknown one drops the requests: its client's stream is gone, and it reconnects).
    api.service().cluster()->ForwardSsePost(where->node, *key, auth->user, body);
    return exchange.Respond(202, "application/json", R"({"accepted":true,"forwarded":true})");
  }
  if (where->shard >= api.service().shard_count())
    return exchange.RespondError(404, "no such session");
  // A session that is not there and another user's get one answer (SseHub::Post), so that it
  // tells nothing of which ids exist.
  if (where->shard == api.shard().id()) {
    if (api.sse().Post(auth->user, *key, body)) {
      return exchange.Respond(202, "application/json", R"({"accepted":true})");
    }
    return exchange.RespondError(404, "no such session");
  }
  api.service().PostOrHold(
      where->shard, [deferred = exchange.Defer(), origin = api.shard().id(), key = std::move(*key),
                     user = auth->user, body = std::string(body)](ChatShard& self) {
        const bool taken = self.sse().Post(user, key, body);
        self.service().PostOrHold(origin, [deferred, taken](ChatShard& back) {
          HttpApi& api = back.http_api();
          if (taken) return api.Answer(deferred, 202, R"({"accepted":true})");
          api.AnswerError(deferred, 404, "no such session");
        });
      });
}

}  // namespace

std::span<const HttpRoute> TransportRoutes() {
  using http::Method;
  constexpr RouteAccess kOwn = RouteAccess::kOwn;
  static constexpr HttpRoute kRows[] = {
      {Method::kGet, "/ws", kOwn, OnApi<&HandleWebSocket>},
      {Method::kGet, "/stomp", kOwn, OnApi<&HandleStomp>},
      {Method::kGet, "/sse", kOwn, OnApi<&HandleSse>},
      {Method::kGet, "/sse/poll", kOwn, OnApi<&HandleSsePoll>},
      {Method::kPost, "/sse/send", kOwn, OnApi<&HandleSsePost>},
  };
  return kRows;
}

}  // namespace ringcast::chat
