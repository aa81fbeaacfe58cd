// The chat's HTTP transports (proto/PROTOCOL.md, "SSE and long polling"): the
// token check, the count of a new session per user (--sse-opens-per-minute) and per address
// (--max-conns-per-ip, as for /ws), and the way to the shard (or, for a POST, the node) that
// holds a session. The channels and their
// rules are the SseHub's (chat/sessions/sse_hub.h).
#include <charconv>
#include <string>

#include "chat/api/http_api.h"
#include "chat/chat_shard.h"
#include "chat/cluster/cluster_link.h"
#include "core/runtime/shard.h"
#include "proto/url_path.h"

namespace ringcast::chat {
namespace {

constexpr std::string_view kAuthenticate = "WWW-Authenticate: Bearer\r\n";

// A query value, percent-decoded; nullopt when absent or malformed.
std::optional<std::string> DecodedParam(std::string_view query, std::string_view name) {
  auto raw = http::QueryParam(query, name);
  std::string decoded;
  if (!raw || !http::PercentDecode(*raw, &decoded)) return std::nullopt;
  return decoded;
}

}  // namespace

void HttpApi::HandleSse(HttpExchange& exchange) {
  std::string error;
  auto auth = Authenticate(exchange, true, &error);
  if (!auth) return exchange.RespondError(401, error, kAuthenticate);
  const http::Request& request = exchange.request();
  // EventSource sends Last-Event-ID by itself when it reconnects; a client that builds its
  // own requests may put it in the query instead.
  std::string last_event_id(request.Find("Last-Event-ID"));
  if (last_event_id.empty())
    last_event_id = DecodedParam(request.query, "last_event_id").value_or("");
  ForwardedHeaders forwarded = ForwardedHeaders::From(request, config_.trusted_proxies);
  const DeferredHttp deferred = exchange.Defer();
  std::string_view key;
  uint64_t last = 0;
  std::optional<SseSessionKey> where;
  if (ParseSseEventId(last_event_id, &key, &last)) where = ParseSseSessionKey(key);
  const std::string_view own_node = service_.cluster() ? service_.cluster()->node_id() : "";
  // A session of another node cannot move here: a new one starts (hello; the client syncs).
  if (!where || where->node != own_node || where->shard >= service_.shard_count()) {
    return OpenSse(deferred, std::move(*auth), std::move(forwarded), false);
  }
  service_.PostOrHold(where->shard, [asker = SseHub::Asker{shard_.id(), deferred},
                                     key = std::string(key), last, auth = std::move(*auth),
                                     forwarded = std::move(forwarded)](ChatShard& self) mutable {
    if (self.sse().Resume(asker, auth.user, key, last)) return;
    self.service().PostOrHold(
        asker.shard, [deferred = asker.deferred, auth = std::move(auth),
                      forwarded = std::move(forwarded)](ChatShard& back) mutable {
          back.http_api().OpenSse(deferred, std::move(auth), std::move(forwarded), false);
        });
  });
}

void HttpApi::OpenSse(const DeferredHttp& deferred, Authenticated auth, ForwardedHeaders forwarded,
                      bool poll) {
  // Counted before anything is made for it (a session costs a store read and a channel until
  // it ends): past the rate, an open costs a counter.
  std::string key = "sse:user:" + std::to_string(auth.user);
  CountAttempt(
      std::move(key), config_.sse_opens_per_minute,
      [deferred, auth = std::move(auth), forwarded = std::move(forwarded), poll](
          HttpApi& api, int64_t retry_after_s) mutable {
        if (retry_after_s > 0) {
          const std::string retry = "Retry-After: " + std::to_string(retry_after_s) + "\r\n";
          return api.AnswerError(
              deferred, 429, "too many new sessions for this user (--sse-opens-per-minute)", retry);
        }
        api.AdmitSse(deferred, std::move(auth), std::move(forwarded), poll);
      });
}

void HttpApi::AdmitSse(const DeferredHttp& deferred, Authenticated auth, ForwardedHeaders forwarded,
                       bool poll) {
  Connection* conn = shard_.Find(deferred.conn);
  if (conn == nullptr) return;
  AdmitAddress(
      *conn, std::move(forwarded),
      [deferred, auth = std::move(auth), poll](HttpApi& api, std::string address,
                                               bool admitted) mutable {
        if (!admitted) {
          return api.AnswerError(deferred, 429,
                                 "too many connections from this address (--max-conns-per-ip)");
        }
        // Revoked while the address was being counted, or the client gone meanwhile.
        if (api.sessions_.revoked(auth.jti)) {
          ConnectionClosed(api.service_, std::move(address));
          return api.AnswerError(deferred, 401, "token revoked", kAuthenticate);
        }
        if (api.shard_.Find(deferred.conn) == nullptr) {
          return ConnectionClosed(api.service_, std::move(address));
        }
        api.sse_.Open(deferred,
                      SseHub::Opening{auth.user, std::move(auth.jti), auth.exp, std::move(address)},
                      poll ? SseHub::Mode::kPoll : SseHub::Mode::kStream);
      });
}

void HttpApi::HandleSsePoll(HttpExchange& exchange) {
  std::string error;
  auto auth = Authenticate(exchange, true, &error);
  if (!auth) return exchange.RespondError(401, error, kAuthenticate);
  const http::Request& request = exchange.request();
  std::optional<std::string> key = DecodedParam(request.query, "session");
  if (!key) {
    ForwardedHeaders forwarded = ForwardedHeaders::From(request, config_.trusted_proxies);
    return OpenSse(exchange.Defer(), std::move(*auth), std::move(forwarded), true);
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
  const std::string_view own_node = service_.cluster() ? service_.cluster()->node_id() : "";
  if (where->node != own_node) {
    // A poll reads the buffer where the session lives: the proxy must send a session's polls
    // to one node (PROTOCOL.md). 421: this node is the wrong one to ask.
    return exchange.RespondError(421, "session is held by another node");
  }
  if (where->shard >= service_.shard_count()) return exchange.RespondError(404, "no such session");
  service_.PostOrHold(
      where->shard,
      [asker = SseHub::Asker{shard_.id(), exchange.Defer()}, key = std::move(*key),
       user = auth->user, after](ChatShard& self) { self.sse().Poll(asker, user, key, after); });
}

void HttpApi::HandleSsePost(HttpExchange& exchange) {
  std::string error;
  auto auth = Authenticate(exchange, true, &error);
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
  if (body.size() > config_.max_message_size) {
    return exchange.RespondError(413, "body larger than --max-message-size");
  }
  const std::string_view own_node = service_.cluster() ? service_.cluster()->node_id() : "";
  if (where->node != own_node) {
    if (service_.cluster() == nullptr || where->node.empty()) {
      return exchange.RespondError(404, "no such session");
    }
    // Over the node's Redis channel; whether the session is there is told only there (an
    // unknown one drops the requests: its client's stream is gone, and it reconnects).
    service_.cluster()->ForwardSsePost(where->node, *key, auth->user, body);
    return exchange.Respond(202, "application/json", R"({"accepted":true,"forwarded":true})");
  }
  if (where->shard >= service_.shard_count()) return exchange.RespondError(404, "no such session");
  // A session that is not there and another user's get one answer (SseHub::Post), so that it
  // tells nothing of which ids exist.
  if (where->shard == shard_.id()) {
    if (sse_.Post(auth->user, *key, body)) {
      return exchange.Respond(202, "application/json", R"({"accepted":true})");
    }
    return exchange.RespondError(404, "no such session");
  }
  service_.PostOrHold(where->shard,
                      [deferred = exchange.Defer(), origin = shard_.id(), key = std::move(*key),
                       user = auth->user, body = std::string(body)](ChatShard& self) {
                        const bool taken = self.sse().Post(user, key, body);
                        self.service().PostOrHold(origin, [deferred, taken](ChatShard& back) {
                          HttpApi& api = back.http_api();
                          if (taken) return api.Answer(deferred, 202, R"({"accepted":true})");
                          api.AnswerError(deferred, 404, "no such session");
                        });
                      });
}

}  // namespace ringcast::chat
