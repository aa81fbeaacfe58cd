#include "chat/cluster/cluster_calls.h"

#include "core/log.h"

namespace ringcast::chat {
namespace {

using cluster::RedisReply;

// ARGV: node, call, ttl_ms, key... Returns {} when reserved, {key, holder} when one is held.
constexpr std::string_view kReserve = R"lua(
local node, call, ttl = ARGV[1], ARGV[2], ARGV[3]
for i = 4, #ARGV do
  local holder = redis.call('GET', 'rc:call:' .. ARGV[i])
  if holder and holder ~= call then return {ARGV[i], holder} end
end
for i = 4, #ARGV do
  redis.call('SET', 'rc:call:' .. ARGV[i], call, 'PX', ttl)
  redis.call('SADD', 'rc:call-node:' .. node, ARGV[i])
end
return {}
)lua";

// ARGV: node, call, key... Deletes the keys the call still holds.
constexpr std::string_view kRelease = R"lua(
local node, call = ARGV[1], ARGV[2]
for i = 3, #ARGV do
  if redis.call('GET', 'rc:call:' .. ARGV[i]) == call then
    redis.call('DEL', 'rc:call:' .. ARGV[i])
  end
  redis.call('SREM', 'rc:call-node:' .. node, ARGV[i])
end
return 1
)lua";

// ARGV: node, call, ttl_ms, key... Extends the keys the call still holds.
constexpr std::string_view kRefresh = R"lua(
local call, ttl = ARGV[2], ARGV[3]
for i = 4, #ARGV do
  if redis.call('GET', 'rc:call:' .. ARGV[i]) == call then
    redis.call('PEXPIRE', 'rc:call:' .. ARGV[i], ttl)
  end
end
return 1
)lua";

// ARGV: node. Deletes the keys the dead node's calls held (a call id ends in "/<node>").
constexpr std::string_view kReap = R"lua(
local set = 'rc:call-node:' .. ARGV[1]
local suffix = '/' .. ARGV[1]
for _, key in ipairs(redis.call('SMEMBERS', set)) do
  local holder = redis.call('GET', 'rc:call:' .. key)
  if holder and string.sub(holder, -#suffix) == suffix then
    redis.call('DEL', 'rc:call:' .. key)
  end
end
redis.call('DEL', set)
return 1
)lua";

void LogRefusal(const RedisReply& reply, const char* what) {
  if (reply.type == RedisReply::Type::kError) {
    RC_LOG(kWarn, "redis refused the calls' %s script: %s", what, reply.text.c_str());
  }
}

}  // namespace

ClusterCalls::ClusterCalls(cluster::ClusterNode& node) : node_(node) {}

void ClusterCalls::Run(std::string_view script, const std::vector<std::string>& keys,
                       const std::string& call, std::function<void(RedisReply)> done) {
  std::vector<std::string> args = {"EVAL", std::string(script), "0", node_.node_id(), call};
  if (script != kRelease) args.push_back(std::to_string(kTtlMs));
  args.insert(args.end(), keys.begin(), keys.end());
  node_.bus().Call(std::move(args), std::move(done));
}

void ClusterCalls::Reserve(std::vector<std::string> keys, const std::string& call,
                           std::function<void(Answer)> done) {
  Run(kReserve, keys, call, [done = std::move(done)](RedisReply reply) {
    if (reply.type != RedisReply::Type::kArray) {
      LogRefusal(reply, "reserve");
      return done(Answer{.unavailable = true});
    }
    if (reply.elements.size() < 2) return done(Answer{});
    done(Answer{.busy_key = reply.elements[0].text, .busy_call = reply.elements[1].text});
  });
}

void ClusterCalls::Release(const std::vector<std::string>& keys, const std::string& call) {
  // Unanswered (Redis away): the marks expire within kTtlMs.
  Run(kRelease, keys, call, [](RedisReply reply) { LogRefusal(reply, "release"); });
}

void ClusterCalls::Refresh(const std::vector<std::string>& keys, const std::string& call) {
  Run(kRefresh, keys, call, [](RedisReply reply) { LogRefusal(reply, "refresh"); });
}

void ClusterCalls::Find(const std::string& key, std::function<void(std::string call)> done) {
  node_.bus().Call({"GET", "rc:call:" + key}, [done = std::move(done)](RedisReply reply) {
    done(reply.type == RedisReply::Type::kString ? std::move(reply.text) : std::string());
  });
}

void ClusterCalls::OnNodeDead(std::string_view node) {
  node_.bus().Call({"EVAL", std::string(kReap), "0", std::string(node)},
                   [](RedisReply reply) { LogRefusal(reply, "reap"); });
}

}  // namespace ringcast::chat
