// POST /api/login and its limits (chat/README.md, "Login attempts"). Only failures count, so a
// user who logs in is never held back by logging in, and a stranger's wrong passwords from one
// address slow that address (a backoff, then a cap) and that address's guesses at one username,
// never the right password from another address; the cap per username over every address
// (--login-rate-account) is the last resort against a guess spread over many addresses.
#include "chat/api/http_api.h"
#include "chat/auth/password.h"
#include "chat/chat_shard.h"
#include "core/cluster/cluster_node.h"
#include "core/net/client_address.h"
#include "core/runtime/shard.h"

namespace ringcast::chat {
namespace {

std::string Lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
  return out;
}

// Cluster mode: a key's failures as a hash {n, last} in Redis for all nodes, expiring with its
// window; `last` is Redis's clock (ms), the one clock every node shares. ARGV: key (without the
// rc: prefix), limit, backoff_after, backoff_max_s. Returns 0 to go, else the seconds to wait.
// The keys (rc:login:fail:...) are not the counters of the versions that counted every attempt
// (rc:login:user:..., strings), so nodes of two versions never read each other's type.
constexpr const char* kLoginCheckScript = R"lua(
local key = 'rc:' .. ARGV[1]
local v = redis.call('HMGET', key, 'n', 'last')
local n = tonumber(v[1]) or 0
if n >= tonumber(ARGV[2]) then
  local left = redis.call('PTTL', key)
  if left < 0 then left = 1000 end
  return math.max(1, math.ceil(left / 1000))
end
local after = tonumber(ARGV[3])
if after > 0 and n >= after then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local delay = math.min(tonumber(ARGV[4]) * 1000, 1000 * 2 ^ math.min(n - after, 30))
  local wait = (tonumber(v[2]) or 0) + delay - now
  if wait > 0 then return math.ceil(wait / 1000) end
end
return 0
)lua";

// ARGV: key, window_ms. Counts one failure now.
constexpr const char* kLoginFailScript = R"lua(
local key = 'rc:' .. ARGV[1]
local t = redis.call('TIME')
local n = redis.call('HINCRBY', key, 'n', 1)
redis.call('HSET', key, 'last', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
if n == 1 or redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[2]) end
return n
)lua";

}  // namespace

std::vector<HttpApi::LoginKey> HttpApi::LoginKeys(const std::string& username,
                                                  const std::string& address) const {
  // An unknown address (never expected on TCP) shares one key: fail closed. IPv6 counts by its
  // network (--ipv6-prefix).
  const std::string from = address.empty() ? "?" : AddressLimitKey(address, config_.ipv6_prefix);
  const std::string name = Lowercase(username);
  return {
      {"login:fail:ip:" + from,
       {config_.login_rate_ip, config_.login_backoff_after, config_.login_backoff_max_s}},
      {"login:fail:pair:" + name + "|" + from, {config_.login_rate_user}},
      {"login:fail:user:" + name, {config_.login_rate_account}},
  };
}

void HttpApi::CheckAttempts(std::vector<LoginKey> keys, size_t next,
                            storage::UniqueFunction<void(HttpApi&, int64_t)> then) {
  if (next == keys.size()) return then(*this, 0);
  cluster::ClusterNode* node = shard_.cluster();
  if (node == nullptr) return CheckAttemptHere(std::move(keys), next, std::move(then));
  // Over the whole cluster; without an answer from Redis, over this node.
  const LoginKey& key = keys[next];
  std::vector<std::string> command{"EVAL",
                                   kLoginCheckScript,
                                   "0",
                                   key.key,
                                   std::to_string(key.rule.limit),
                                   std::to_string(key.rule.backoff_after),
                                   std::to_string(key.rule.backoff_max_s)};
  auto pending = std::make_shared<
      std::pair<std::vector<LoginKey>, storage::UniqueFunction<void(HttpApi&, int64_t)>>>(
      std::move(keys), std::move(then));
  node->bus().Call(std::move(command), [&service = service_, origin = shard_.id(), next,
                                        pending](cluster::RedisReply reply) {
    std::optional<int64_t> retry_after = reply.AsInt();
    service.PostOrHold(origin, [next, pending, retry_after](ChatShard& back) mutable {
      HttpApi& self = back.http_api();
      auto& [keys, then] = *pending;
      if (!retry_after) return self.CheckAttemptHere(std::move(keys), next, std::move(then));
      if (*retry_after > 0) return then(self, *retry_after);
      self.CheckAttempts(std::move(keys), next + 1, std::move(then));
    });
  });
}

void HttpApi::CheckAttemptHere(std::vector<LoginKey> keys, size_t next,
                               storage::UniqueFunction<void(HttpApi&, int64_t)> then) {
  const uint32_t owner =
      uint32_t(std::hash<std::string>{}(keys[next].key) % service_.shard_count());
  service_.PostOrHold(owner, [keys = std::move(keys), next, origin = shard_.id(),
                              then = std::move(then)](ChatShard& owner) mutable {
    HttpApi& self = owner.http_api();
    const int64_t retry_after = self.attempt_limiter_.Check(keys[next].key, keys[next].rule,
                                                            self.service_.clock().MonotonicMs());
    self.service_.PostOrHold(origin, [keys = std::move(keys), next, retry_after,
                                      then = std::move(then)](ChatShard& back) mutable {
      HttpApi& self = back.http_api();
      if (retry_after > 0) return then(self, retry_after);
      self.CheckAttempts(std::move(keys), next + 1, std::move(then));
    });
  });
}

void HttpApi::CountFailures(std::vector<LoginKey> keys) {
  for (LoginKey& key : keys) {
    cluster::ClusterNode* node = shard_.cluster();
    if (node == nullptr) {
      CountFailureHere(key.key);
      continue;
    }
    node->bus().Call(
        {"EVAL", kLoginFailScript, "0", key.key, std::to_string(kAttemptWindowMs)},
        [&service = service_, origin = shard_.id(), key = key.key](cluster::RedisReply reply) {
          if (reply.AsInt()) return;
          service.PostOrHold(origin,
                             [key](ChatShard& back) { back.http_api().CountFailureHere(key); });
        });
  }
}

void HttpApi::CountFailureHere(const std::string& key) {
  const uint32_t owner = uint32_t(std::hash<std::string>{}(key) % service_.shard_count());
  service_.PostOrHold(owner, [key](ChatShard& owner) {
    HttpApi& self = owner.http_api();
    self.attempt_limiter_.Fail(key, self.service_.clock().MonotonicMs());
  });
}

void HttpApi::HandleLogin(HttpExchange& exchange) {
  Credentials credentials;
  if (auto error = ParseCredentials(exchange.body(), &credentials)) {
    return exchange.RespondError(400, *error);
  }
  // No account has a name outside the rules, so such a login cannot succeed: it is refused
  // without a key built from arbitrary client bytes (and without the password hash's cost).
  if (!ValidUsername(credentials.username)) {
    return exchange.RespondError(401, "invalid username or password");
  }
  // Kept with the login for the sessions list; bounded, as a client writes it.
  constexpr size_t kMaxUserAgent = 256;
  std::string user_agent(exchange.request().Find("User-Agent").substr(0, kMaxUserAgent));
  DeferredHttp deferred = exchange.Defer();
  // The address is the TCP peer's, or the one a trusted proxy names (core/net/client_address.h).
  ForwardedHeaders forwarded = ForwardedHeaders::From(exchange.request(), config_.trusted_proxies);
  shard_.PeerAddress(exchange.connection(), [this, deferred, credentials, user_agent,
                                             forwarded = std::move(forwarded)](std::string peer) {
    std::string address = ClientAddress(peer, forwarded, config_.trusted_proxies);
    CheckAttempts(
        LoginKeys(credentials.username, address), 0,
        [deferred, credentials, address, user_agent](HttpApi& self, int64_t retry_after) mutable {
          self.ContinueLogin(deferred, std::move(credentials), std::move(address),
                             std::move(user_agent), retry_after);
        });
  });
}

void HttpApi::ContinueLogin(const DeferredHttp& deferred, Credentials credentials,
                            std::string address, std::string user_agent, int64_t retry_after) {
  if (retry_after > 0) {
    return AnswerError(deferred, 429, "too many failed logins, retry later",
                       "Retry-After: " + std::to_string(retry_after) + "\r\n");
  }
  std::string username = credentials.username;
  service_.store().FindLogin(
      std::move(username),
      service_.ReplyOn<std::optional<storage::UserLogin>>(
          shard_.id(),
          [deferred, credentials = std::move(credentials), address = std::move(address),
           user_agent = std::move(user_agent)](ChatShard& chat, auto found) mutable {
            HttpApi& self = chat.http_api();
            if (!found.ok()) return self.AnswerStoreFailure(deferred, found.status());
            std::optional<storage::UserLogin> login = std::move(*found);
            auth::ScryptParams params{.log2_n = self.config_.password_cost};
            const bool queued = self.shard_.TryRunBlocking(
                WorkClass::kLogin,
                [password = std::move(credentials.password), login, params] {
                  if (!login) {
                    // The same work as a real check: timing tells nothing.
                    auth::SimulateVerify(password, params);
                    return false;
                  }
                  return auth::VerifyPassword(password, login->password_hash) ==
                         auth::VerifyOutcome::kMatch;
                },
                [&self, deferred, keys = self.LoginKeys(credentials.username, address), address,
                 user_agent = std::move(user_agent), user = login ? login->id : 0,
                 created = login ? login->created_at : 0](Shard&, bool match) mutable {
                  if (!match) {
                    self.CountFailures(std::move(keys));
                    return self.AnswerError(deferred, 401, "invalid username or password");
                  }
                  self.IssueTokens(deferred, user, created, std::move(user_agent),
                                   std::move(address));  // http_api_tokens.cc
                });
            if (!queued) {
              self.AnswerError(deferred, 503,
                               "too many logins in progress (--workers-login-queue), retry later",
                               "Retry-After: 1\r\n");
            }
          }));
}

}  // namespace ringcast::chat
