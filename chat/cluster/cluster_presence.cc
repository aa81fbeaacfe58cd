#include "chat/cluster/cluster_presence.h"

#include <algorithm>
#include <limits>
#include <memory>

#include "chat/chat_shard.h"
#include "chat/cluster/cluster_calls.h"
#include "chat/cluster/cluster_link.h"
#include "chat/service.h"
#include "core/log.h"

namespace ringcast::chat {
namespace {

using cluster::RedisReply;

// Users reaped per call: a dead node with many users must not hold Redis for long.
constexpr size_t kReapChunk = 1000;
// Grace periods ended per sweep (the rest at the next one, a second later).
constexpr size_t kSweepLimit = 1000;
// Users re-asserted per call.
constexpr size_t kReassertChunk = 1000;

// Every script starts with Redis's time and the common step: a user's last connection on any
// node is gone, so it goes offline after the grace period (the first departure counts), or
// now when there is none (returns the transition's seq, else nil).
constexpr std::string_view kPrelude = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Never below Redis's time in microseconds, so that numbers keep growing across a restart of
-- Redis that lost the counter (replicas ignore a transition older than the one they hold).
local function next_seq()
  local floor = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local seq = redis.call('INCR', 'rc:presence-seq')
  if seq < floor then
    redis.call('SET', 'rc:presence-seq', string.format('%.0f', floor))
    seq = floor
  end
  return seq
end
local function last_gone(user, grace)
  if redis.call('EXISTS', 'rc:conns:' .. user) == 1 or
     redis.call('SISMEMBER', 'rc:online', user) == 0 then
    return nil
  end
  if grace == 0 then
    redis.call('SREM', 'rc:online', user)
    redis.call('ZREM', 'rc:grace', user)
    redis.call('HDEL', 'rc:left', user)
    return next_seq()
  end
  if not redis.call('ZSCORE', 'rc:grace', user) then
    redis.call('ZADD', 'rc:grace', now + grace, user)
    redis.call('HSET', 'rc:left', user, now)
  end
  return nil
end
-- A connection of `user` is back: online now, or still (within its grace period).
local function came_back(user)
  if redis.call('ZREM', 'rc:grace', user) == 1 then
    redis.call('HDEL', 'rc:left', user)
    return nil
  end
  if redis.call('SADD', 'rc:online', user) == 1 then
    return next_seq()
  end
  return nil
end
)lua";

// ARGV: user, node, count, max. Returns {accepted, seq (0: no transition), now}.
constexpr std::string_view kAttach = R"lua(
local user, node, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
local key = 'rc:conns:' .. user
local others = 0
local fields = redis.call('HGETALL', key)
for i = 1, #fields, 2 do
  if fields[i] ~= node then others = others + tonumber(fields[i + 1]) end
end
if others + count > tonumber(ARGV[4]) then return {0, 0, now} end
redis.call('HSET', key, node, count)
redis.call('SADD', 'rc:node-users:' .. node, user)
return {1, came_back(user) or 0, now}
)lua";

// ARGV: user, node, count, grace_ms. Returns {seq (0: no transition), now}.
constexpr std::string_view kDetach = R"lua(
local user, node, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
if count > 0 then
  redis.call('HSET', 'rc:conns:' .. user, node, count)
  return {0, now}
end
redis.call('HDEL', 'rc:conns:' .. user, node)
redis.call('SREM', 'rc:node-users:' .. node, user)
return {last_gone(user, tonumber(ARGV[4])) or 0, now}
)lua";

// ARGV: node, user, count, user, count... Returns {now, user, seq, ...} for users now online.
constexpr std::string_view kReassert = R"lua(
local node = ARGV[1]
local out = {now}
for i = 2, #ARGV, 2 do
  local user = ARGV[i]
  redis.call('HSET', 'rc:conns:' .. user, node, ARGV[i + 1])
  redis.call('SADD', 'rc:node-users:' .. node, user)
  local seq = came_back(user)
  if seq then
    out[#out + 1] = user
    out[#out + 1] = seq
  end
end
return out
)lua";

// ARGV: node, grace_ms, chunk. Returns {now, remaining, user, seq, ...} (users gone offline
// at once, with no grace period).
constexpr std::string_view kReap = R"lua(
local node, grace = ARGV[1], tonumber(ARGV[2])
local set = 'rc:node-users:' .. node
local out = {now, 0}
for _, user in ipairs(redis.call('SPOP', set, tonumber(ARGV[3]))) do
  redis.call('HDEL', 'rc:conns:' .. user, node)
  local seq = last_gone(user, grace)
  if seq then
    out[#out + 1] = user
    out[#out + 1] = seq
  end
end
out[2] = redis.call('SCARD', set)
return out
)lua";

// ARGV: limit. Returns {now, user, left, seq, ...}.
constexpr std::string_view kSweep = R"lua(
local out = {now}
for _, user in ipairs(redis.call('ZRANGEBYSCORE', 'rc:grace', '-inf', now,
                                 'LIMIT', 0, tonumber(ARGV[1]))) do
  redis.call('ZREM', 'rc:grace', user)
  out[#out + 1] = user
  out[#out + 1] = redis.call('HGET', 'rc:left', user) or now
  out[#out + 1] = next_seq()
  redis.call('HDEL', 'rc:left', user)
  redis.call('SREM', 'rc:online', user)
end
return out
)lua";

// Returns {seq, user, user, ...}: who is online, as of that seq.
constexpr std::string_view kSnapshot = R"lua(
local out = {tonumber(redis.call('GET', 'rc:presence-seq') or '0')}
for _, user in ipairs(redis.call('SMEMBERS', 'rc:online')) do out[#out + 1] = user end
return out
)lua";

// One script's text, built once: the prelude every script shares, then `kBody`.
template <const std::string_view& kBody>
const std::string& Script() {
  static const std::string script = std::string(kPrelude).append(kBody);
  return script;
}

int64_t IntAt(const RedisReply& reply, size_t i) {
  return i < reply.elements.size() ? reply.elements[i].AsInt().value_or(0) : 0;
}

// Pairs (user, seq) from element `from` on: online (or, when reaped, offline) transitions.
std::vector<ClusterPresence::Transition> Transitions(const RedisReply& reply, size_t from,
                                                     bool online) {
  std::vector<ClusterPresence::Transition> out;
  const int64_t now = IntAt(reply, 0);
  for (size_t i = from; i + 1 < reply.elements.size(); i += 2) {
    out.push_back({IntAt(reply, i), online, now, uint64_t(IntAt(reply, i + 1))});
  }
  return out;
}

void LogRefusal(const RedisReply& reply, const char* what) {
  if (reply.type == RedisReply::Type::kError) {
    RC_LOG(kWarn, "redis refused the presence %s script: %s", what, reply.text.c_str());
  }
}

}  // namespace

ClusterPresence::ClusterPresence(ChatService& service, cluster::ClusterNode& node)
    : service_(service),
      node_(node),
      node_id_(node.node_id()),
      grace_ms_(std::to_string(uint64_t{service.config().presence_grace_s} * 1000)) {
  node.Watch(this);
}

void ClusterPresence::NoteStateLost() { node_.registry().NoteStateLost(); }

void ClusterPresence::Attach(int64_t user, uint32_t count,
                             std::function<void(Verdict, std::optional<Transition>)> done) {
  node_.bus().Call({"EVAL", Script<kAttach>(), "0", std::to_string(user), node_id_,
                    std::to_string(count), std::to_string(service_.config().max_conns_per_user)},
                   [user, done = std::move(done)](RedisReply reply) {
                     if (reply.type != RedisReply::Type::kArray || reply.elements.size() < 3) {
                       LogRefusal(reply, "attach");
                       return done(Verdict::kUnavailable, std::nullopt);
                     }
                     if (IntAt(reply, 0) == 0) return done(Verdict::kRefused, std::nullopt);
                     std::optional<Transition> transition;
                     if (int64_t seq = IntAt(reply, 1); seq > 0) {
                       transition = Transition{user, true, IntAt(reply, 2), uint64_t(seq)};
                     }
                     done(Verdict::kAccepted, transition);
                   });
}

void ClusterPresence::Detach(int64_t user, uint32_t count) {
  node_.bus().Call({"EVAL", Script<kDetach>(), "0", std::to_string(user), node_id_,
                    std::to_string(count), grace_ms_},
                   [this, user](RedisReply reply) {
                     if (reply.type != RedisReply::Type::kArray || reply.elements.size() < 2) {
                       LogRefusal(reply, "detach");
                       return NoteStateLost();
                     }
                     if (int64_t seq = IntAt(reply, 0); seq > 0) {
                       Deliver({Transition{user, false, IntAt(reply, 1), uint64_t(seq)}});
                     }
                   });
}

void ClusterPresence::Reassert(std::vector<std::pair<int64_t, uint32_t>> users) {
  for (size_t at = 0; at < users.size(); at += kReassertChunk) {
    std::vector<std::string> args = {"EVAL", Script<kReassert>(), "0", node_id_};
    for (size_t i = at; i < std::min(users.size(), at + kReassertChunk); ++i) {
      args.push_back(std::to_string(users[i].first));
      args.push_back(std::to_string(users[i].second));
    }
    node_.bus().Call(std::move(args), [this](RedisReply reply) {
      if (reply.type != RedisReply::Type::kArray) {
        LogRefusal(reply, "re-assert");
        return NoteStateLost();  // Again at the next heartbeat.
      }
      Deliver(Transitions(reply, 1, /*online=*/true));
    });
  }
}

void ClusterPresence::Sweep(int64_t now_ms) {
  node_.bus().Call({"EVAL", Script<kSweep>(), "0", std::to_string(kSweepLimit)}, [this](RedisReply
                                                                                            reply) {
    if (reply.type != RedisReply::Type::kArray) return LogRefusal(reply, "sweep");
    std::vector<Transition> out;
    for (size_t i = 1; i + 2 < reply.elements.size(); i += 3) {
      out.push_back({IntAt(reply, i), false, IntAt(reply, i + 1), uint64_t(IntAt(reply, i + 2))});
    }
    Deliver(std::move(out));
  });
  int64_t due = confirm_due_ms_.load(std::memory_order_relaxed);
  if (due != 0 && now_ms >= due &&
      confirm_due_ms_.compare_exchange_strong(due, 0, std::memory_order_relaxed)) {
    Snapshot(/*with_departures=*/true);
  }
}

void ClusterPresence::Resync() {
  confirm_due_ms_.store(
      service_.clock().MonotonicMs() + int64_t{service_.config().node_ttl_s} * 1000,
      std::memory_order_relaxed);
  Snapshot(/*with_departures=*/false);
}

void ClusterPresence::Snapshot(bool with_departures) {
  node_.bus().Call(
      {"EVAL", std::string(kSnapshot), "0"}, [this, with_departures](RedisReply reply) {
        if (reply.type != RedisReply::Type::kArray || reply.elements.empty()) {
          // Redis is away again: its next subscription resyncs.
          return LogRefusal(reply, "snapshot");
        }
        auto online = std::make_shared<std::vector<int64_t>>();
        online->reserve(reply.elements.size() - 1);
        for (size_t i = 1; i < reply.elements.size(); ++i) online->push_back(IntAt(reply, i));
        std::sort(online->begin(), online->end());
        const auto seq = uint64_t(IntAt(reply, 0));
        service_.PostToEveryShard([&] {
          return [seq, with_departures,
                  online = std::shared_ptr<const std::vector<int64_t>>(online)](ChatShard& self) {
            self.sessions().presence().OnPresenceSnapshot(seq, *online, with_departures);
          };
        });
      });
}

void ClusterPresence::Reap(std::string node, size_t chunk, std::function<void()> done) {
  node_.bus().Call({"EVAL", Script<kReap>(), "0", node, grace_ms_, std::to_string(chunk)},
                   [this, node, chunk, done = std::move(done)](RedisReply reply) mutable {
                     if (reply.type != RedisReply::Type::kArray || reply.elements.size() < 2) {
                       LogRefusal(reply, "reap");
                       // The node's entries stay until a fresh registration of this node reaps
                       // again.
                       return NoteStateLost();
                     }
                     Deliver(Transitions(reply, 2, /*online=*/false));
                     if (IntAt(reply, 1) > 0) return Reap(std::move(node), chunk, std::move(done));
                     done();
                   });
}

void ClusterPresence::OnRegistered(bool fresh) {
  if (!fresh) return;
  // Whatever Redis holds of this node is stale: reap it, then every owner re-asserts its
  // counts (their calls follow the reaping's in the bus's order).
  Reap(node_id_, kReapChunk, [this] {
    service_.PostToEveryShard([] { return [](ChatShard& self) { self.users().Reassert(); }; });
  });
}

void ClusterPresence::OnNodeDead(std::string_view node) {
  RC_LOG(kWarn,
         "cluster: node %.*s missed its heartbeats; its users go offline unless they "
         "reconnect within the grace period",
         int(node.size()), node.data());
  Reap(std::string(node), kReapChunk, [] {});
  // The calls it held: their busy marks go now, and their devices on every node hear that
  // they ended.
  service_.cluster_calls()->OnNodeDead(node);
  service_.cluster()->PublishCallHolderDead(node);
}

void ClusterPresence::OnStopping() {
  // The sessions have closed, but their detaches may still be in mail that runs only after the
  // bus has stopped: take every connection of this node out in one call (their users' grace
  // periods start), the last thing the bus writes before leaving the registry.
  Reap(node_id_, std::numeric_limits<uint32_t>::max(), [] {});
  // The calls this node held end with it (docs/calls.md, "Failures"), for their devices on the
  // other nodes at once rather than when their marks expire.
  service_.cluster_calls()->OnNodeDead(node_id_);
  service_.cluster()->PublishCallHolderDead(node_id_);
}

void ClusterPresence::Deliver(std::vector<Transition> transitions) {
  for (const Transition& transition : transitions) {
    service_.PostOrHold(service_.UserOwnerShard(transition.user),
                        [transition](ChatShard& self) { self.users().OnTransition(transition); });
  }
}

}  // namespace ringcast::chat
