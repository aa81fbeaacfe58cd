// What the chat's HTTP routes share (chat/api/http_api.h): token checks, answers, the pace of
// changes over HTTP, and the count of chat connections per client address.
#include "chat/api/http_api.h"

#include "chat/auth/jwt.h"
#include "chat/chat_shard.h"
#include "core/log.h"
#include "core/net/client_address.h"
#include "core/runtime/shard.h"
#include "proto/url_path.h"

namespace ringcast::chat {
namespace {

constexpr std::string_view kJson = "application/json";
// Each shard counts the changes of at most this many users a second.
constexpr size_t kMaxChangeKeys = 65536;

// The answer to a conversation route's store call that was refused (never kNone).
std::pair<int, std::string_view> ConversationRefusal(storage::Denial denial) {
  struct Refusal {
    storage::Denial denial;
    int status;
    std::string_view reason;
  };
  static constexpr Refusal kRefusals[] = {
      {storage::Denial::kForbidden, 403, "not a member of this conversation"},
      {storage::Denial::kNotGroup, 400, "the members of a 1:1 conversation cannot change"},
      {storage::Denial::kUnknownUser, 404, "unknown user"},
      {storage::Denial::kTooLarge, 400, "more than --max-group-size members"},
      {storage::Denial::kNotAdmin, 403, "your role in this group does not allow this"},
      {storage::Denial::kOwnerProtected, 403, "the owner cannot be removed or demoted"},
      {storage::Denial::kLastOwner, 409, "the owner must transfer ownership before leaving"},
      {storage::Denial::kNotOwnImage, 400,
       "avatar must be an image you uploaded (with a thumbnail)"},
  };
  for (const Refusal& refusal : kRefusals) {
    if (refusal.denial == denial) return {refusal.status, refusal.reason};
  }
  return {404, "no such conversation or member"};
}

}  // namespace

HttpApi::HttpApi(ChatShard& chat, Shard& shard, ChatService& service)
    : chat_(chat),
      shard_(shard),
      service_(service),
      config_(service.config()),
      change_limiter_(1000, kMaxChangeKeys, service.clock().MonotonicMs()) {}

WebSocketHandler& HttpApi::ws_handler() { return chat_; }
SessionHost& HttpApi::sessions() { return chat_.sessions(); }
SseHub& HttpApi::sse() { return chat_.sse(); }
StompGateway& HttpApi::stomp() { return chat_.stomp(); }
AttemptCounter& HttpApi::attempts() { return chat_.attempts(); }

void HttpApi::Sweep(int64_t now_ms) { change_limiter_.Expire(now_ms); }

int64_t HttpApi::PaceChange(int64_t user) {
  return change_limiter_.Count(std::to_string(user), config_.msg_rate,
                               service_.clock().MonotonicMs());
}

std::optional<HttpApi::Authenticated> HttpApi::Authenticate(HttpExchange& exchange,
                                                            bool allow_query, std::string* error) {
  const http::Request& request = exchange.request();
  std::string_view token;
  std::string_view header = request.Find("Authorization");
  if (header.data() != nullptr) {
    constexpr std::string_view kBearer = "Bearer ";
    if (header.size() <= kBearer.size() ||
        !http::EqualsIgnoreCase(header.substr(0, kBearer.size()), kBearer)) {
      *error = "Authorization must be \"Bearer <token>\"";
      return std::nullopt;
    }
    token = header.substr(kBearer.size());
  } else if (auto param = allow_query ? http::QueryParam(request.query, "token") : std::nullopt) {
    token = *param;
  }
  if (token.empty()) {
    *error = allow_query ? "missing token (Authorization: Bearer, or ?token=)"
                         : "missing token (Authorization: Bearer)";
    return std::nullopt;
  }
  std::optional<Authenticated> verified = VerifyToken(service_, chat_.sessions(), token, error);
  if (verified) exchange.SetAccessLogUser(std::to_string(verified->user));
  return verified;
}

std::optional<HttpApi::Authenticated> HttpApi::VerifyToken(const ChatService& service,
                                                           const SessionHost& sessions,
                                                           std::string_view token,
                                                           std::string* error) {
  auth::JwtVerifyResult verified = auth::VerifyJwt(token, service.secret(), NowMs() / 1000);
  if (!verified.ok()) {
    *error = verified.error == auth::JwtError::kExpired ? "token expired" : "invalid token";
    return std::nullopt;
  }
  if (sessions.revoked(verified.claims.jti)) {
    *error = "token revoked";
    return std::nullopt;
  }
  return Authenticated{verified.claims.user_id, verified.claims.jti, verified.claims.exp};
}

bool HttpApi::RequireAuth(HttpExchange& exchange, Authenticated* auth) {
  std::string error;
  auto result = Authenticate(exchange, false, &error);
  if (!result) {
    exchange.RespondError(401, error, "WWW-Authenticate: Bearer\r\n");
    return false;
  }
  *auth = std::move(*result);
  return true;
}

void HttpApi::Answer(const DeferredHttp& deferred, int status, std::string_view body,
                     std::string_view extra_headers) {
  shard_.AnswerDeferred(deferred, status, kJson, body, extra_headers);
}

void HttpApi::AnswerError(const DeferredHttp& deferred, int status, std::string_view reason,
                          std::string_view extra_headers) {
  JsonWriter writer;
  Answer(deferred, status, writer.BeginObject().Field("error", reason).EndObject().str(),
         extra_headers);
}

void HttpApi::AnswerStoreFailure(const DeferredHttp& deferred, const storage::Status& status) {
  // An unreachable database is logged by the store when the outage begins, not per request.
  if (status.errc() != storage::Errc::kUnavailable) {
    RC_LOG(kWarn, "shard %u: store failed: %s", shard_.id(), status.ToString().c_str());
  }
  AnswerRetryLater(deferred, 503, "storage unavailable, retry later", 1);
}

void HttpApi::AnswerRetryLater(const DeferredHttp& deferred, int status, std::string_view reason,
                               int64_t seconds) {
  AnswerError(deferred, status, reason, "Retry-After: " + std::to_string(seconds) + "\r\n");
}

bool HttpApi::AnswerDenial(const DeferredHttp& deferred, storage::Denial denial) {
  if (denial == storage::Denial::kNone) return false;
  const auto [status, reason] = ConversationRefusal(denial);
  AnswerError(deferred, status, reason);
  return true;
}

void HttpApi::ClientAddressOf(HttpExchange& exchange, std::function<void(std::string)> then) {
  ForwardedHeaders forwarded = ForwardedHeaders::From(exchange.request(), config_.trusted_proxies);
  shard_.PeerAddress(exchange.connection(), [this, forwarded = std::move(forwarded),
                                             then = std::move(then)](std::string peer) {
    then(ClientAddress(peer, forwarded, config_.trusted_proxies));
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
