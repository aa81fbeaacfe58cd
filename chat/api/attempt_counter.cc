// Logins and registrations counted over the whole service (chat/api/attempt_counter.h).
#include "chat/api/attempt_counter.h"

#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "chat/chat_shard.h"
#include "core/cluster/cluster_node.h"
#include "core/runtime/shard.h"

namespace ringcast::chat {
namespace {

// Each shard holds at most this many keys (logins and registrations together) at once.
constexpr size_t kMaxKeys = 65536;

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

AttemptCounter::AttemptCounter(ChatShard& chat, Shard& shard, ChatService& service)
    : chat_(chat),
      shard_(shard),
      service_(service),
      limiter_(kWindowMs, kMaxKeys, service.clock().MonotonicMs()) {}

uint32_t AttemptCounter::OwnerOf(const std::string& key) const {
  return uint32_t(std::hash<std::string>{}(key) % service_.shard_count());
}

void AttemptCounter::Count(std::string key, uint32_t limit, Then then) {
  cluster::ClusterNode* node = shard_.cluster();
  if (node == nullptr) return CountHere(std::move(key), limit, std::move(then));
  // Over the whole cluster; without an answer from Redis, over this node (CountHere).
  auto pending = std::make_shared<Then>(std::move(then));
  node->bus().Call(
      {"EVAL", kAttemptCountScript, "0", key, std::to_string(limit), std::to_string(kWindowMs)},
      [&service = service_, origin = shard_.id(), key, limit, pending](cluster::RedisReply reply) {
        std::optional<int64_t> retry_after = reply.AsInt();
        service.PostOrHold(origin, [key, limit, pending, retry_after](ChatShard& back) mutable {
          if (retry_after) return (*pending)(back, *retry_after);
          back.attempts().CountHere(std::move(key), limit, std::move(*pending));
        });
      });
}

void AttemptCounter::CountHere(std::string key, uint32_t limit, Then then) {
  const uint32_t owner = OwnerOf(key);
  service_.PostOrHold(owner, [key = std::move(key), limit, origin = shard_.id(),
                              then = std::move(then)](ChatShard& owner) mutable {
    AttemptCounter& self = owner.attempts();
    const int64_t retry_after =
        self.limiter_.Count(key, limit, self.service_.clock().MonotonicMs());
    self.service_.PostOrHold(origin, [then = std::move(then), retry_after](
                                         ChatShard& back) mutable { then(back, retry_after); });
  });
}

void AttemptCounter::CheckFrom(std::vector<Key> keys, size_t next, Then then) {
  if (next == keys.size()) return then(chat_, 0);
  cluster::ClusterNode* node = shard_.cluster();
  if (node == nullptr) return CheckHere(std::move(keys), next, std::move(then));
  // Over the whole cluster; without an answer from Redis, over this node.
  const Key& key = keys[next];
  std::vector<std::string> command{"EVAL",
                                   kLoginCheckScript,
                                   "0",
                                   key.key,
                                   std::to_string(key.rule.limit),
                                   std::to_string(key.rule.backoff_after),
                                   std::to_string(key.rule.backoff_max_s)};
  auto pending =
      std::make_shared<std::pair<std::vector<Key>, Then>>(std::move(keys), std::move(then));
  node->bus().Call(std::move(command), [&service = service_, origin = shard_.id(), next,
                                        pending](cluster::RedisReply reply) {
    std::optional<int64_t> retry_after = reply.AsInt();
    service.PostOrHold(origin, [next, pending, retry_after](ChatShard& back) mutable {
      AttemptCounter& self = back.attempts();
      auto& [keys, then] = *pending;
      if (!retry_after) return self.CheckHere(std::move(keys), next, std::move(then));
      if (*retry_after > 0) return then(back, *retry_after);
      self.CheckFrom(std::move(keys), next + 1, std::move(then));
    });
  });
}

void AttemptCounter::CheckHere(std::vector<Key> keys, size_t next, Then then) {
  const uint32_t owner = OwnerOf(keys[next].key);
  service_.PostOrHold(owner, [keys = std::move(keys), next, origin = shard_.id(),
                              then = std::move(then)](ChatShard& owner) mutable {
    AttemptCounter& self = owner.attempts();
    const int64_t retry_after =
        self.limiter_.Check(keys[next].key, keys[next].rule, self.service_.clock().MonotonicMs());
    self.service_.PostOrHold(origin, [keys = std::move(keys), next, retry_after,
                                      then = std::move(then)](ChatShard& back) mutable {
      if (retry_after > 0) return then(back, retry_after);
      back.attempts().CheckFrom(std::move(keys), next + 1, std::move(then));
    });
  });
}

void AttemptCounter::Fail(std::vector<Key> keys) {
  cluster::ClusterNode* node = shard_.cluster();
  for (Key& key : keys) {
    if (node == nullptr) {
      FailHere(key.key);
      continue;
    }
    node->bus().Call(
        {"EVAL", kLoginFailScript, "0", key.key, std::to_string(kWindowMs)},
        [&service = service_, origin = shard_.id(), key = key.key](cluster::RedisReply reply) {
          if (reply.AsInt()) return;
          service.PostOrHold(origin, [key](ChatShard& back) { back.attempts().FailHere(key); });
        });
  }
}

void AttemptCounter::FailHere(const std::string& key) {
  service_.PostOrHold(OwnerOf(key), [key](ChatShard& owner) {
    AttemptCounter& self = owner.attempts();
    self.limiter_.Fail(key, self.service_.clock().MonotonicMs());
  });
}

}  // namespace ringcast::chat
