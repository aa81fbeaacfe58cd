// The chat HTTP API (proto/PROTOCOL.md): accounts, tokens, conversations, history, and the
// token check in front of the /ws upgrade.
#include "chat/api/http_api.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "chat/auth/password.h"
#include "chat/chat_shard.h"
#include "chat/cluster/cluster_link.h"
#include "core/log.h"
#include "core/net/client_address.h"
#include "core/runtime/shard.h"
#include "proto/url_path.h"

namespace ringcast::chat {
namespace {

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kApiPrefix = "/api/";
constexpr size_t kMaxConversationName = 128;
// Login attempts and registrations are counted per minute; each shard holds at most this many
// keys (of both together) at once.
constexpr size_t kMaxAttemptKeys = 65536;

// A decimal int64 of at least `min`; false for anything else (sign, spaces, overflow).
bool ParseInt(std::string_view text, int64_t min, int64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && *out >= min;
}

bool ParseId(std::string_view text, int64_t* out) { return ParseInt(text, 1, out); }

struct PageQuery {
  int64_t before = 0;
  int64_t seen = 0;  // ConversationStore::History's.
  storage::PageLimit limit;
};

// A page of messages' `before`, `seen` and `limit` (history and thread pages): before=0 means
// "the newest", as absent does (and as in the WebSocket requests); seen=0 names nothing. The
// page holds at most `max_bytes` of messages. Nullopt after answering 400 with the reason.
std::optional<PageQuery> ReadPageQuery(HttpExchange& exchange, uint64_t max_bytes) {
  const std::string_view query = exchange.request().query;
  PageQuery page;
  int64_t count = 50;
  if (auto value = http::QueryParam(query, "before"); value && !ParseInt(*value, 0, &page.before)) {
    exchange.RespondError(400, "before must be a non-negative integer");
    return std::nullopt;
  }
  if (auto value = http::QueryParam(query, "seen"); value && !ParseInt(*value, 0, &page.seen)) {
    exchange.RespondError(400, "seen must be a non-negative integer");
    return std::nullopt;
  }
  if (auto value = http::QueryParam(query, "limit");
      value && (!ParseId(*value, &count) || count > RequestLimits::kMaxHistory)) {
    exchange.RespondError(400, "limit must be 1 to 200");
    return std::nullopt;
  }
  page.limit = {.count = uint32_t(count), .bytes = max_bytes};
  return page;
}

void WriteMemberIds(JsonWriter& writer, const storage::ConversationState& state) {
  writer.Key("members").BeginArray();
  for (const storage::MemberState& member : state.members) writer.Int(member.user);
  writer.EndArray();
}

// A membership change's answer: the group as it now is, roles parallel to members.
std::string MembershipBody(const storage::ConversationState& state) {
  JsonWriter writer;
  writer.BeginObject().Field("id", state.id).Key("name");
  state.name ? writer.String(*state.name) : writer.Null();
  writer.Key("topic");
  state.topic ? writer.String(*state.topic) : writer.Null();
  WriteAvatar(writer, state.avatar);
  WriteMemberIds(writer, state);
  writer.Key("roles").BeginArray();
  for (const storage::MemberState& member : state.members) writer.String(member.role);
  return writer.EndArray().EndObject().Take();
}

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

// The metrics' label of a conversation route (HttpExchange::SetRoute): ids left out.
std::string_view ConversationRoute(std::string_view rest) {
  if (rest.empty()) return "/api/conversations";
  const size_t slash = rest.find('/', 1);
  if (slash == std::string_view::npos) return "/api/conversations/{id}";
  const std::string_view tail = rest.substr(slash);
  if (tail == "/messages") return "/api/conversations/{id}/messages";
  if (tail == "/pins") return "/api/conversations/{id}/pins";
  if (tail.starts_with("/threads/")) return "/api/conversations/{id}/threads/{root}";
  if (tail.starts_with("/messages/") && tail.ends_with("/pin")) {
    return "/api/conversations/{id}/messages/{seq}/pin";
  }
  if (tail.starts_with("/messages/") && tail.find("/reactions/") != std::string_view::npos) {
    return "/api/conversations/{id}/messages/{seq}/reactions/{emoji}";
  }
  if (tail.starts_with("/messages/")) return "/api/conversations/{id}/messages/{seq}";
  if (tail == "/members") return "/api/conversations/{id}/members";
  if (tail == "/mute") return "/api/conversations/{id}/mute";
  if (tail.starts_with("/members/") && tail.ends_with("/role")) {
    return "/api/conversations/{id}/members/{user}/role";
  }
  if (tail.starts_with("/members/")) return "/api/conversations/{id}/members/{user}";
  if (tail == "/transfer") return "/api/conversations/{id}/transfer";
  return "/api/conversations/other";
}

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

bool HttpApi::Serves(std::string_view path) {
  return path == "/ws" || path == "/stomp" || path == "/sse" || path.starts_with("/sse/") ||
         path.starts_with(kApiPrefix);
}

void HttpApi::Sweep(int64_t now_ms) {
  attempt_limiter_.Expire(now_ms);
  change_limiter_.Expire(now_ms);
}

void HttpApi::OnRequest(HttpExchange& exchange) {
  std::string_view path = exchange.request().path;
  http::Method method = exchange.request().method;
  auto allow = [&](http::Method wanted) {
    if (method == wanted) return true;
    exchange.RespondError(405, "method not allowed",
                          wanted == http::Method::kGet ? "Allow: GET\r\n" : "Allow: POST\r\n");
    return false;
  };
  // The routes that answer one method and take nothing after their path; the label is also the
  // route's metrics name, so it must outlive the exchange.
  struct Fixed {
    std::string_view label;
    http::Method method;
    void (HttpApi::*handler)(HttpExchange&);
  };
  static constexpr Fixed kFixed[] = {
      {"/ws", http::Method::kGet, &HttpApi::HandleWebSocket},
      {"/sse", http::Method::kGet, &HttpApi::HandleSse},
      {"/sse/poll", http::Method::kGet, &HttpApi::HandleSsePoll},
      {"/sse/send", http::Method::kPost, &HttpApi::HandleSsePost},
      {"/stomp", http::Method::kGet, &HttpApi::HandleStomp},
      {"/api/register", http::Method::kPost, &HttpApi::HandleRegister},
      {"/api/login", http::Method::kPost, &HttpApi::HandleLogin},
      {"/api/token/refresh", http::Method::kPost, &HttpApi::HandleRefresh},
      {"/api/logout", http::Method::kPost, &HttpApi::HandleLogout},
      {"/api/users", http::Method::kGet, &HttpApi::HandleUsers},
      {"/api/search", http::Method::kGet, &HttpApi::HandleSearch},
      {"/api/me/password", http::Method::kPost, &HttpApi::HandlePassword},
      {"/api/calls/ice-servers", http::Method::kGet, &HttpApi::HandleIceServers},
      {"/api/mentions", http::Method::kGet, &HttpApi::HandleMentions},
  };
  for (const Fixed& fixed : kFixed) {
    if (path != fixed.label) continue;
    exchange.SetRoute(fixed.label);
    if (allow(fixed.method)) (this->*fixed.handler)(exchange);
    return;
  }
  if (!path.starts_with(kApiPrefix)) {  // Under /sse/, none of the fixed routes.
    exchange.SetRoute("/sse/other");
    return exchange.RespondError(404, "no such route");
  }
  std::string_view route = path.substr(kApiPrefix.size());
  if (route == "me") {
    HandleMe(exchange);  // http_api_profiles.cc
  } else if (route == "me/sessions" || route.starts_with("me/sessions/")) {
    HandleSessions(exchange, route.substr(std::string_view("me/sessions").size()));
  } else if (route == "blocks" || route.starts_with("blocks/")) {
    HandleBlocks(exchange, route.substr(std::string_view("blocks").size()));
  } else if (route.starts_with("push/")) {
    HandlePush(exchange, route);
  } else if (route == "conversations" || route.starts_with("conversations/")) {
    const std::string_view rest = route.substr(std::string_view("conversations").size());
    exchange.SetRoute(ConversationRoute(rest));
    if (rest.ends_with("/mute")) return HandleMute(exchange, rest);  // http_api_notify.cc
    HandleConversations(exchange, rest);
  } else {
    exchange.SetRoute("/api/other");
    exchange.RespondError(404, "no such route");
  }
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

void HttpApi::HandleLogout(HttpExchange& exchange) {
  Authenticated auth;
  if (!RequireAuth(exchange, &auth)) return;
  DeferredHttp deferred = exchange.Defer();
  service_.store().RevokeToken(
      auth.jti, auth.exp * 1000,
      service_.ReplyOn<bool>(shard_.id(), [deferred, auth](ChatShard& chat, auto result) {
        HttpApi& self = chat.http_api();
        if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
        self.service_.PostToEveryShard([&auth] {
          return [user = auth.user, jti = auth.jti, exp_ms = auth.exp * 1000](ChatShard& shard) {
            shard.sessions().OnRevoked(user, jti, exp_ms);
          };
        });
        if (ClusterLink* cluster = self.service_.cluster()) {
          cluster->PublishRevoked(auth.user, auth.jti, auth.exp * 1000);
        }
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

// --- Conversations ---------------------------------------------------------------------------

void HttpApi::HandleConversations(HttpExchange& exchange, std::string_view rest) {
  Authenticated auth;
  if (!RequireAuth(exchange, &auth)) return;
  const http::Request& request = exchange.request();
  const int64_t caller = auth.user;

  if (rest.empty()) {
    if (request.method == http::Method::kGet) {
      DeferredHttp deferred = exchange.Defer();
      service_.store().ListConversations(
          caller, service_.ReplyOn<std::vector<storage::ConversationSummary>>(
                      shard_.id(), [deferred](ChatShard& chat, auto result) {
                        HttpApi& self = chat.http_api();
                        if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
                        JsonWriter writer;
                        writer.BeginObject().Key("conversations").BeginArray();
                        for (const storage::ConversationSummary& c : *result) {
                          writer.BeginObject().Field("id", c.id).Key("name");
                          c.name ? writer.String(*c.name) : writer.Null();
                          writer.Key("topic");
                          c.topic ? writer.String(*c.topic) : writer.Null();
                          WriteAvatar(writer, c.avatar);
                          writer.Field("group", c.group).Key("members").BeginArray();
                          for (int64_t member : c.members) writer.Int(member);
                          writer.EndArray().Key("roles").BeginArray();
                          for (const std::string& role : c.roles) writer.String(role);
                          writer.EndArray().Key("last_message");
                          c.last_message ? AppendMessage(writer, *c.last_message)
                                         : void(writer.Null());
                          writer.Field("last_seq", c.last_seq)
                              .Field("unread", c.unread)
                              .Field("read_seq", c.read_seq);
                          AppendNotifyState(writer, c, NowMs());  // http_api_notify.cc
                          writer.EndObject();
                        }
                        self.Answer(deferred, 200, writer.EndArray().EndObject().str());
                      }));
      return;
    }
    if (request.method != http::Method::kPost) {
      return exchange.RespondError(405, "method not allowed", "Allow: GET, POST\r\n");
    }
    NewConversation spec;
    if (auto error = ParseNewConversation(exchange.body(), &spec)) {
      return exchange.RespondError(400, *error);
    }
    std::set<int64_t> others(spec.members.begin(), spec.members.end());
    others.erase(caller);
    if (!spec.group && others.size() != 1) {
      return exchange.RespondError(400, "a 1:1 conversation needs exactly one other member");
    }
    if (spec.group && others.empty()) {
      return exchange.RespondError(400, "a group needs at least one other member");
    }
    // Rather than store a 1:1 without the name the client asked for.
    if (!spec.group && spec.name) {
      return exchange.RespondError(400, "a 1:1 conversation has no name");
    }
    if (spec.name && spec.name->size() > kMaxConversationName) {
      return exchange.RespondError(400, "name longer than 128 bytes");
    }
    if (others.size() + 1 > config_.max_group_size) {
      return exchange.RespondError(400, "more than --max-group-size members");
    }
    DeferredHttp deferred = exchange.Defer();
    auto create = [deferred, caller, others = std::vector<int64_t>(others.begin(), others.end()),
                   name = spec.group ? std::move(spec.name) : std::nullopt,
                   group = spec.group](HttpApi& self) mutable {
      self.service_.store().CreateConversation(
          caller, std::move(others), std::move(name), group, NowMs(),
          self.service_.ReplyOn<storage::CreateConversationOutcome>(
              self.shard_.id(), [deferred](ChatShard& chat, auto result) {
                HttpApi& self = chat.http_api();
                if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
                if (result->denial == storage::Denial::kUnknownUser) {
                  return self.AnswerError(deferred, 404, "unknown user");
                }
                const storage::ConversationState& state = result->conversation;
                if (result->created) self.AnnounceMembers(state, {});
                JsonWriter writer;
                self.Answer(deferred, result->created ? 201 : 200,
                            writer.BeginObject().Field("id", state.id).EndObject().str());
              }));
    };
    if (spec.group) return create(*this);
    // A 1:1 with a user who blocks the caller, or whom the caller blocks, is refused (proto/
    // PROTOCOL.md, "Blocks"); the reason does not say which of the two blocks.
    service_.store().EitherBlocks(
        caller, *others.begin(),
        service_.ReplyOn<bool>(shard_.id(), [deferred, create = std::move(create)](
                                                ChatShard& chat, auto blocked) mutable {
          HttpApi& self = chat.http_api();
          if (!blocked.ok()) return self.AnswerStoreFailure(deferred, blocked.status());
          if (*blocked) {
            return self.AnswerError(deferred, 403,
                                    "you cannot start a conversation with this user");
          }
          create(self);
        }));
    return;
  }

  // /api/conversations/{id}/...
  rest.remove_prefix(1);
  size_t slash = rest.find('/');
  int64_t conv;
  std::string_view conv_text = rest.substr(0, slash);
  if (conv_text.empty()) return exchange.RespondError(404, "no such route");
  // A malformed id is the client's mistake (400); a well-formed one may still name nothing (404).
  if (!ParseId(conv_text, &conv)) {
    return exchange.RespondError(400, "conversation id must be a positive integer");
  }
  std::string_view tail = slash == std::string_view::npos ? "" : rest.substr(slash);
  auto denied = [](HttpApi& self, const DeferredHttp& deferred, storage::Denial denial) {
    if (denial == storage::Denial::kNone) return false;
    const auto [status, reason] = ConversationRefusal(denial);
    self.AnswerError(deferred, status, reason);
    return true;
  };

  if (tail == "/messages") {
    if (request.method != http::Method::kGet) {
      return exchange.RespondError(405, "method not allowed", "Allow: GET\r\n");
    }
    const auto page = ReadPageQuery(exchange, config_.max_answer_bytes);
    if (!page) return;
    const storage::PageLimit limit = page->limit;
    DeferredHttp deferred = exchange.Defer();
    service_.store().History(
        conv, caller, page->before, page->seen, limit,
        service_.ReplyOn<storage::Page>(
            shard_.id(), [deferred, denied, max_bytes = limit.bytes](ChatShard& chat, auto result) {
              HttpApi& self = chat.http_api();
              if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
              if (denied(self, deferred, result->denial)) return;
              JsonWriter writer;
              writer.BeginObject().Key("messages").BeginArray();
              bool all = AppendMessagesWithin(writer, result->messages, max_bytes);
              self.Answer(deferred, 200,
                          writer.EndArray().Field("more", result->more || !all).EndObject().str());
            }));
    return;
  }

  if (tail.starts_with("/messages/")) {
    const std::string_view after = tail.substr(std::string_view("/messages/").size());
    const size_t slash = std::min(after.find('/'), after.size());
    int64_t seq;
    if (!ParseId(after.substr(0, slash), &seq)) {
      return exchange.RespondError(400, "message seq must be a positive integer");
    }
    return HandleMessageChange(exchange, conv, caller, seq, after.substr(slash));
  }

  if (tail.starts_with("/threads/")) {
    return HandleThreadPage(exchange, conv, caller,
                            tail.substr(std::string_view("/threads/").size()));
  }

  if (tail == "/pins") {
    if (request.method != http::Method::kGet) {
      return exchange.RespondError(405, "method not allowed", "Allow: GET\r\n");
    }
    DeferredHttp deferred = exchange.Defer();
    service_.store().ListPins(conv, caller,
                              service_.ReplyOn<storage::Page>(
                                  shard_.id(), [deferred, denied](ChatShard& chat, auto result) {
                                    HttpApi& self = chat.http_api();
                                    if (!result.ok())
                                      return self.AnswerStoreFailure(deferred, result.status());
                                    if (denied(self, deferred, result->denial)) return;
                                    JsonWriter writer;
                                    writer.BeginObject().Key("pins").BeginArray();
                                    AppendMessagesWithin(writer, result->messages, UINT64_MAX);
                                    self.Answer(deferred, 200, writer.EndArray().EndObject().str());
                                  }));
    return;
  }

  auto after_membership = [denied](std::vector<int64_t> removed) {
    return [denied, removed = std::move(removed)](const DeferredHttp& deferred) {
      return [deferred, denied, removed](ChatShard& chat,
                                         storage::Result<storage::MembershipOutcome> result) {
        HttpApi& self = chat.http_api();
        if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
        if (denied(self, deferred, result->denial)) return;
        // A change that was there already writes nothing: no event (the call is idempotent).
        if (result->changed) self.AfterGroupChange(*result, removed);
        self.Answer(deferred, 200, MembershipBody(result->conversation));
      };
    };
  };
  // A role, owner or settings change: answered as any membership change, with no one removed.
  auto change_group = [&](storage::GroupChange change) {
    DeferredHttp deferred = exchange.Defer();
    service_.store().ChangeGroup(
        std::move(change),
        service_.ReplyOn<storage::MembershipOutcome>(shard_.id(), after_membership({})(deferred)));
  };
  if (tail == "/members") {
    if (request.method != http::Method::kPost) {
      return exchange.RespondError(405, "method not allowed", "Allow: POST\r\n");
    }
    std::vector<int64_t> users;
    if (auto error = ParseMemberList(exchange.body(), &users)) {
      return exchange.RespondError(400, *error);
    }
    if (users.size() > config_.max_group_size) {
      return exchange.RespondError(400, "more than --max-group-size members");
    }
    DeferredHttp deferred = exchange.Defer();
    service_.store().AddMembers(
        conv, caller, std::move(users), config_.max_group_size, NowMs(),
        service_.ReplyOn<storage::MembershipOutcome>(shard_.id(), after_membership({})(deferred)));
    return;
  }
  if (tail.starts_with("/members/")) {
    std::string_view user_text = tail.substr(std::string_view("/members/").size());
    const bool role = user_text.ends_with("/role");
    if (role) user_text.remove_suffix(std::string_view("/role").size());
    const http::Method wanted = role ? http::Method::kPut : http::Method::kDelete;
    if (request.method != wanted) {
      return exchange.RespondError(405, "method not allowed",
                                   role ? "Allow: PUT\r\n" : "Allow: DELETE\r\n");
    }
    int64_t user;
    if (!ParseId(user_text, &user)) {
      return exchange.RespondError(400, "user id must be a positive integer");
    }
    if (!role) {
      DeferredHttp deferred = exchange.Defer();
      service_.store().RemoveMember(conv, caller, user, NowMs(),
                                    service_.ReplyOn<storage::MembershipOutcome>(
                                        shard_.id(), after_membership({user})(deferred)));
      return;
    }
    StringFields fields;
    if (auto error = ParseStringFields(exchange.body(), {"role"}, &fields)) {
      return exchange.RespondError(400, *error);
    }
    if (fields.empty() || !fields[0].second ||
        (*fields[0].second != storage::kAdminRole && *fields[0].second != storage::kMemberRole)) {
      return exchange.RespondError(400, "role must be \"admin\" or \"member\"");
    }
    storage::GroupChange change{.op = storage::GroupChange::Op::kSetRole,
                                .conv = conv,
                                .caller = caller,
                                .user = user,
                                .role = std::move(*fields[0].second),
                                .now = NowMs()};
    return change_group(std::move(change));
  }
  if (tail == "/transfer") {
    if (request.method != http::Method::kPost) {
      return exchange.RespondError(405, "method not allowed", "Allow: POST\r\n");
    }
    std::vector<int64_t> users;
    if (ParseMemberList(exchange.body(), &users) || users.size() != 1) {
      return exchange.RespondError(400, "give the new owner as {\"members\":[user id]}");
    }
    storage::GroupChange change{.op = storage::GroupChange::Op::kTransfer,
                                .conv = conv,
                                .caller = caller,
                                .user = users[0],
                                .now = NowMs()};
    return change_group(std::move(change));
  }
  if (tail.empty()) {
    if (request.method != http::Method::kPatch) {
      return exchange.RespondError(405, "method not allowed", "Allow: PATCH\r\n");
    }
    StringFields fields;
    if (auto error = ParseStringFields(exchange.body(), {"name", "topic", "avatar"}, &fields)) {
      return exchange.RespondError(400, *error);
    }
    storage::GroupChange change{
        .op = storage::GroupChange::Op::kSettings, .conv = conv, .caller = caller, .now = NowMs()};
    for (auto& [field, value] : fields) {
      if (field == "avatar") {
        // null clears it, as "" clears the topic.
        change.avatar = value.value_or("");
        continue;
      }
      if (!value) return exchange.RespondError(400, "name and topic must be strings");
      if (field == "name") {
        if (value->empty() || value->size() > storage::kMaxGroupName) {
          return exchange.RespondError(400, "name must be 1 to 128 bytes");
        }
        change.name = std::move(*value);
      } else {
        if (value->size() > storage::kMaxGroupTopic) {
          return exchange.RespondError(400, "topic longer than 512 bytes");
        }
        change.topic = std::move(*value);
      }
    }
    if (!change.name && !change.topic && !change.avatar) {
      return exchange.RespondError(400, "give \"name\", \"topic\" and/or \"avatar\"");
    }
    return change_group(std::move(change));
  }
  exchange.RespondError(404, "no such route");
}

// GET /api/conversations/{id}/threads/{root}: the WebSocket `thread` answer over HTTP, for a
// client that reads a thread without holding a connection (PROTOCOL.md, "Replies and threads").
void HttpApi::HandleThreadPage(HttpExchange& exchange, int64_t conv, int64_t caller,
                               std::string_view root_text) {
  const http::Request& request = exchange.request();
  if (request.method != http::Method::kGet) {
    return exchange.RespondError(405, "method not allowed", "Allow: GET\r\n");
  }
  int64_t root;
  if (!ParseId(root_text, &root)) {
    return exchange.RespondError(400, "thread root must be a positive integer (a seq)");
  }
  const auto page = ReadPageQuery(exchange, config_.max_answer_bytes);
  if (!page) return;
  const storage::PageLimit limit = page->limit;
  DeferredHttp deferred = exchange.Defer();
  service_.store().Thread(
      conv, caller, root, page->before, page->seen, limit,
      service_.ReplyOn<storage::ThreadPage>(
          shard_.id(),
          [deferred, conv, root, max_bytes = limit.bytes](ChatShard& chat, auto result) {
            HttpApi& self = chat.http_api();
            if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
            switch (result->page.denial) {
              case storage::Denial::kNone:
                return self.Answer(deferred, 200, EncodeThread(conv, root, *result, max_bytes));
              case storage::Denial::kForbidden:
                return self.AnswerError(deferred, 403, "not a member of this conversation");
              default:
                return self.AnswerError(
                    deferred, 404,
                    "no such conversation, or no such thread root (an ordinary message in no "
                    "thread)");
            }
          }));
}

void HttpApi::AfterGroupChange(const storage::MembershipOutcome& outcome,
                               std::vector<int64_t> removed) {
  const int64_t conv = outcome.conversation.id;
  if (ClusterLink* cluster = service_.cluster()) {
    for (const storage::Message& entry : outcome.system) cluster->PublishMessage(entry);
  }
  // Before the answer (ChatService::HandOffCommitted says why).
  for (const storage::Message& entry : outcome.system) {
    service_.store().NoteCommitted(entry.conv, entry.seq);
  }
  // The owner publishes the system entries, then tells every shard of the change: its mail to a
  // shard keeps its order, so a removed member's sessions get the entry that removed them
  // before they leave the conversation.
  service_.PostOrHold(service_.ConversationOwnerShard(conv),
                      [entries = outcome.system, state = outcome.conversation,
                       removed = std::move(removed)](ChatShard& chat) mutable {
                        for (const storage::Message& entry : entries)
                          chat.conversations().OnRemoteMessage(entry);
                        // The owner shard holds the conversation's calls on this node.
                        chat.calls().OnMembersRemoved(state.id, removed);
                        chat.http_api().AnnounceMembers(state, std::move(removed));
                      });
}

void HttpApi::AnnounceMembers(const storage::ConversationState& state,
                              std::vector<int64_t> removed) {
  auto shared = std::make_shared<const std::pair<storage::ConversationState, std::vector<int64_t>>>(
      state, std::move(removed));
  service_.PostToEveryShard([&shared] {
    return [shared](ChatShard& self) {
      self.sessions().OnMembersChanged(shared->first, shared->second);
    };
  });
  // The other nodes' sessions of these members join or leave too.
  if (ClusterLink* cluster = service_.cluster())
    cluster->PublishMembers(shared->first, shared->second);
}

}  // namespace ringcast::chat
