#include "core/cluster/node_registry.h"

#include <algorithm>
#include <utility>

#include "proto/json_writer.h"

#ifndef RINGCAST_VERSION
#define RINGCAST_VERSION "unknown"
#endif

namespace ringcast::cluster {
namespace {

using SteadyClock = std::chrono::steady_clock;

// rc:nodes (sorted set: node → expiry, Redis ms) and rc:node-info (hash: node → its entry).
// ARGV: node, entry, ttl_ms, "1" when the node's state may be lost.
// Returns {fresh, number of dead, dead..., live...} (the live ones this node included).
constexpr const char* kHeartbeatScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local node = ARGV[1]
local expiry = redis.call('ZSCORE', 'rc:nodes', node)
local fresh = ARGV[4] == '1' or not expiry or tonumber(expiry) < now
local out = {fresh and 1 or 0, 0}
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', 'rc:nodes', '-inf', '(' .. now)) do
  redis.call('ZREM', 'rc:nodes', dead)
  redis.call('HDEL', 'rc:node-info', dead)
  if dead ~= node then
    out[#out + 1] = dead
    out[2] = out[2] + 1
  end
end
redis.call('ZADD', 'rc:nodes', now + tonumber(ARGV[3]), node)
redis.call('HSET', 'rc:node-info', node, ARGV[2])
for _, live in ipairs(redis.call('ZRANGEBYSCORE', 'rc:nodes', now, '+inf')) do
  out[#out + 1] = live
end
return out
)lua";

// Returns {entry, ms left of its TTL, ...} for the live nodes.
constexpr const char* kListScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
local live = redis.call('ZRANGEBYSCORE', 'rc:nodes', now, '+inf', 'WITHSCORES')
for i = 1, #live, 2 do
  local entry = redis.call('HGET', 'rc:node-info', live[i])
  if entry then
    out[#out + 1] = entry
    out[#out + 1] = tonumber(live[i + 1]) - now
  end
end
return out
)lua";

constexpr const char* kDeregisterScript = R"lua(
redis.call('ZREM', 'rc:nodes', ARGV[1])
redis.call('HDEL', 'rc:node-info', ARGV[1])
return 1
)lua";

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

NodeRegistry::NodeRegistry(RedisBusSet& bus, NodeRegistryOptions options,
                           std::function<uint64_t()> connections)
    : bus_(bus),
      options_(std::move(options)),
      connections_(std::move(connections)),
      started_ms_(WallMs()) {}

void NodeRegistry::OnConnected() {
  // First, before anything queued meanwhile: a fresh node cleans up before its calls land.
  heartbeat_outstanding_ = false;  // Lost with the old connection, if any.
  Heartbeat();
}

void NodeRegistry::OnTick() {
  if (!heartbeat_outstanding_ && SteadyClock::now() >= next_heartbeat_at_) Heartbeat();
}

std::string NodeRegistry::Describe() const {
  JsonWriter entry;
  entry.BeginObject()
      .Field("id", options_.node_id)
      .Field("address", options_.address)
      .Field("shards", uint64_t{options_.shards})
      .Field("connections", connections_())
      .Field("started_ms", started_ms_)
      .Field("version", RINGCAST_VERSION)
      .EndObject();
  return entry.str();
}

void NodeRegistry::Heartbeat() {
  heartbeat_outstanding_ = true;
  next_heartbeat_at_ = SteadyClock::now() + options_.interval;
  const bool lost = state_lost_.exchange(false, std::memory_order_relaxed);
  bus_.Call({"EVAL", kHeartbeatScript, "0", options_.node_id, Describe(),
             std::to_string(options_.ttl.count()), lost ? "1" : "0"},
            [this, lost](RedisReply reply) {
              heartbeat_outstanding_ = false;
              if (reply.type != RedisReply::Type::kArray || reply.elements.size() < 2) {
                if (lost) NoteStateLost();  // Still to be reported.
                return;
              }
              registered_until_ns_.store(
                  (SteadyClock::now() + options_.ttl).time_since_epoch().count(),
                  std::memory_order_relaxed);
              const bool fresh = reply.elements[0].AsInt().value_or(1) != 0;
              const size_t live_from =
                  std::min(reply.elements.size(),
                           2 + size_t(std::max<int64_t>(0, reply.elements[1].AsInt().value_or(0))));
              auto live = std::make_shared<std::vector<std::string>>();
              for (size_t i = live_from; i < reply.elements.size(); ++i) {
                live->push_back(std::move(reply.elements[i].text));
              }
              std::sort(live->begin(), live->end());
              {
                std::lock_guard lock(live_mutex_);
                live_ = std::move(live);
              }
              ClusterWatcher* watcher = watcher_.load(std::memory_order_acquire);
              if (watcher == nullptr) {
                // Nobody to re-assert the node's state yet; a dead node is reaped by a
                // node that has a watcher (or by this one's next fresh registration).
                if (fresh) NoteStateLost();
                return;
              }
              watcher->OnRegistered(fresh);
              for (size_t i = 2; i < live_from; ++i) {
                watcher->OnNodeDead(reply.elements[i].text);
              }
            });
}

void NodeRegistry::List(std::function<void(std::optional<std::vector<std::string>>)> done) {
  bus_.Call({"EVAL", kListScript, "0"}, [done = std::move(done)](RedisReply reply) {
    if (reply.type != RedisReply::Type::kArray) return done(std::nullopt);
    std::vector<std::string> entries;
    for (size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
      std::string entry = std::move(reply.elements[i].text);
      if (entry.empty() || entry.back() != '}') continue;
      entry.pop_back();
      entry.append(",\"expires_in_ms\":")
          .append(std::to_string(reply.elements[i + 1].AsInt().value_or(0)))
          .append("}");
      entries.push_back(std::move(entry));
    }
    done(std::move(entries));
  });
}

void NodeRegistry::Deregister() {
  bus_.Call({"EVAL", kDeregisterScript, "0", options_.node_id}, [](RedisReply) {});
}

std::shared_ptr<const std::vector<std::string>> NodeRegistry::LiveNodes() const {
  std::lock_guard lock(live_mutex_);
  return live_;
}

bool NodeRegistry::registered() const {
  const int64_t until = registered_until_ns_.load(std::memory_order_relaxed);
  return until != 0 && SteadyClock::now().time_since_epoch().count() < until;
}

}  // namespace ringcast::cluster
