// The chat HTTP API (proto/PROTOCOL.md): authentication, register and logout, and the attempt
// counters of logins and registrations. The routes' table: http_routes.cc; the conversations'
// routes: http_api_conversations.cc.
#include "chat/api/http_api.h"

#include "chat/auth/password.h"
#include "chat/chat_shard.h"
#include "chat/cluster/cluster_link.h"
#include "chat/sessions/user_news.h"
#include "core/log.h"
#include "core/net/client_address.h"
#include "core/runtime/shard.h"
#include "proto/url_path.h"

namespace ringcast::chat {
namespace {

constexpr std::string_view kJson = "application/json";
// Login attempts and registrations are counted per minute; each shard holds at most this many
// keys (of both together) at once.
constexpr size_t kMaxAttemptKeys = 65536;

}  // namespace

HttpApi::HttpApi(Shard& shard, ChatService& service, WebSocketHandler& ws_handler,
                 SessionHost& sessions, SseHub& sse, StompGateway& stomp)
    : shard_(shard),
      service_(service),
      config_(service.config()),
      ws_handler_(ws_handler),
      sessions_(sessions),
      sse_(sse),
      stomp_(stomp),
      attempt_limiter_(kAttemptWindowMs, kMaxAttemptKeys, service.clock().MonotonicMs()),
      change_limiter_(1000, kMaxAttemptKeys, service.clock().MonotonicMs()) {}

void HttpApi::Sweep(int64_t now_ms) {
  attempt_limiter_.Expire(now_ms);
  change_limiter_.Expire(now_ms);
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
  std::optional<Authenticated> verified = VerifyToken(service_, sessions_, token, error);
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
  AnswerError(deferred, 503, "storage unavailable, retry later", "Retry-After: 1\r\n");
}

// --- Accounts ------------------------------------------------------------------------------

void HttpApi::HandleRegister(HttpExchange& exchange) {
  Credentials credentials;
  if (auto error = ParseCredentials(exchange.body(), &credentials)) {
    return exchange.RespondError(400, *error);
  }
  if (!ValidUsername(credentials.username)) {
    return exchange.RespondError(400, "username must be 1 to 32 of A-Z a-z 0-9 _ . -");
  }
  if (credentials.password.size() < kMinPassword || credentials.password.size() > kMaxPassword) {
    return exchange.RespondError(400, "password must be 8 to 1024 bytes");
  }
  DeferredHttp deferred = exchange.Defer();
  // Counted per client address over the whole service, as logins are (HandleLogin): only
  // requests that would cost a password hash count.
  ForwardedHeaders forwarded = ForwardedHeaders::From(exchange.request(), config_.trusted_proxies);
  shard_.PeerAddress(exchange.connection(), [this, deferred, credentials,
                                             forwarded = std::move(forwarded)](std::string peer) {
    std::string address = ClientAddress(peer, forwarded, config_.trusted_proxies);
    CountAttempt(
        "register:ip:" + (address.empty() ? "?" : AddressLimitKey(address, config_.ipv6_prefix)),
        config_.register_rate_ip,
        [deferred, credentials = std::move(credentials)](HttpApi& self,
                                                         int64_t retry_after) mutable {
          self.ContinueRegister(deferred, std::move(credentials), retry_after);
        });
  });
}

void HttpApi::ContinueRegister(const DeferredHttp& deferred, Credentials credentials,
                               int64_t retry_after) {
  if (retry_after > 0) {
    return AnswerError(deferred, 429, "too many registrations from this address, retry later",
                       "Retry-After: " + std::to_string(retry_after) + "\r\n");
  }
  auth::ScryptParams params{.log2_n = config_.password_cost};
  const bool queued = shard_.TryRunBlocking(
      WorkClass::kRegistration,
      [password = std::move(credentials.password), params] {
        return auth::HashPassword(password, params);
      },
      [this, deferred, username = std::move(credentials.username)](Shard&,
                                                                   auth::HashResult hashed) {
        if (!hashed.ok()) return AnswerError(deferred, 400, hashed.reason);
        service_.store().CreateUser(
            username, std::move(hashed.encoded), NowMs(),
            service_.ReplyOn<std::pair<storage::Denial, int64_t>>(
                shard_.id(), [deferred](ChatShard& chat, auto result) {
                  HttpApi& self = chat.http_api();
                  if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
                  if (result->first == storage::Denial::kTaken) {
                    return self.AnswerError(deferred, 409, "username already taken");
                  }
                  JsonWriter writer;
                  self.Answer(
                      deferred, 201,
                      writer.BeginObject().Field("user_id", result->second).EndObject().str());
                }));
      });
  if (!queued) {
    AnswerError(deferred, 503,
                "too many registrations in progress (--max-pending-registrations), retry later",
                "Retry-After: 1\r\n");
  }
}

// Cluster mode: one counter per key in Redis for all nodes, expiring with its window.
// ARGV: key (without the rc: prefix), limit, window_ms. Returns 0 within the limit, else the
// seconds left (at least 1). Login keys are rc:login:user:NAME and rc:login:ip:ADDRESS, as
// before registrations were counted too, so nodes of two versions share them while they mix.
constexpr const char* kAttemptCountScript = R"lua(
local key = 'rc:' .. ARGV[1]
local attempts = redis.call('INCR', key)
if attempts == 1 then redis.call('PEXPIRE', key, ARGV[3]) end
if attempts <= tonumber(ARGV[2]) then return 0 end
local left = redis.call('PTTL', key)
if left < 0 then
  redis.call('PEXPIRE', key, ARGV[3])
  left = tonumber(ARGV[3])
end
return math.max(1, math.ceil(left / 1000))
)lua";

void HttpApi::CountAttempt(std::string key, uint32_t limit,
                           storage::UniqueFunction<void(HttpApi&, int64_t)> then) {
  if (cluster::ClusterNode* node = shard_.cluster()) {
    // Over the whole cluster; without an answer from Redis, over this node (below).
    auto pending =
        std::make_shared<storage::UniqueFunction<void(HttpApi&, int64_t)>>(std::move(then));
    node->bus().Call(
        {"EVAL", kAttemptCountScript, "0", key, std::to_string(limit),
         std::to_string(kAttemptWindowMs)},
        [&service = service_, origin = shard_.id(), key, limit,
         pending](cluster::RedisReply reply) {
          std::optional<int64_t> retry_after = reply.AsInt();
          service.PostOrHold(origin, [key, limit, pending, retry_after](ChatShard& back) mutable {
            if (retry_after) return (*pending)(back.http_api(), *retry_after);
            back.http_api().CountAttemptHere(std::move(key), limit, std::move(*pending));
          });
        });
    return;
  }
  CountAttemptHere(std::move(key), limit, std::move(then));
}

void HttpApi::CountAttemptHere(std::string key, uint32_t limit,
                               storage::UniqueFunction<void(HttpApi&, int64_t)> then) {
  uint32_t owner = uint32_t(std::hash<std::string>{}(key) % service_.shard_count());
  uint32_t origin = shard_.id();
  service_.PostOrHold(owner, [key = std::move(key), limit, origin,
                              then = std::move(then)](ChatShard& owner) mutable {
    HttpApi& self = owner.http_api();
    int64_t retry_after =
        self.attempt_limiter_.Count(key, limit, self.service_.clock().MonotonicMs());
    self.service_.PostOrHold(origin,
                             [then = std::move(then), retry_after](ChatShard& back) mutable {
                               then(back.http_api(), retry_after);
                             });
  });
}

void HttpApi::HandleLogout(HttpExchange& exchange, const RouteCall& call) {
  const Authenticated& auth = call.auth;
  DeferredHttp deferred = exchange.Defer();
  service_.store().RevokeToken(
      auth.jti, auth.exp * 1000,
      service_.ReplyOn<bool>(shard_.id(), [deferred, auth](ChatShard& chat, auto result) {
        HttpApi& self = chat.http_api();
        if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
        TellEveryDevice(self.service_, {.kind = UserNews::Kind::kRevoked,
                                        .user = auth.user,
                                        .text = auth.jti,
                                        .until_ms = auth.exp * 1000});
        // The refresh tokens of its login go too (http_api_tokens.cc); a token issued before
        // refresh tokens has no family.
        std::string family = FamilyOf(auth.jti);
        if (family.empty()) return self.Answer(deferred, 200, R"({"revoked":true})");
        self.service_.store().RevokeRefreshFamily(
            std::move(family),
            self.service_.ReplyOn<bool>(self.shard_.id(), [deferred](ChatShard& chat, auto done) {
              HttpApi& self = chat.http_api();
              if (!done.ok()) return self.AnswerStoreFailure(deferred, done.status());
              self.Answer(deferred, 200, R"({"revoked":true})");
            }));
      }));
}

}  // namespace ringcast::chat
