// ClusterNode: this process as one node of a cluster (--redis; docs/cluster.md).
//
// Owner: main() builds it before the shards and starts it once they exist; it is then shared,
// read-only, by every thread. It owns the buses (RedisBusSet: one RedisBus per --redis instance)
// and routes what arrives from other nodes by
// channel prefix to whoever registered the prefix before Start (the chat: conversation and
// membership channels). The engine's own use is /raw/{channel}: a shard whose first local
// subscriber of a channel arrives follows "rc:raw:<channel>"; the bus posts publications from
// other nodes straight to the shards the channel's home says may have subscribers
// (raw_interest(), core/pubsub/topic_interest.h), in the order they arrive.
//
// It also keeps this node in the registry (NodeRegistry: heartbeats with a TTL, the live nodes
// for GET /api/cluster) and tells its watcher (the chat) when the node's state in Redis must be
// re-asserted and when another node died.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/cluster/node_registry.h"
#include "core/cluster/redis_bus.h"
#include "core/cluster/redis_bus_set.h"
#include "core/config.h"
#include "core/pubsub/topic_interest.h"
#include "proto/ws_frame.h"

namespace ringcast {

class MetricSet;
class ShardSet;

namespace cluster {

// This node's id: --node-id, else the one kept in `data_dir`'s node-id file, else a new one
// written there (so a restarted node keeps its name; docs/cluster.md). Empty (with a reason on
// stderr) on failure. Create uses it; so does the object store, whose temporaries it names.
std::string ResolveNodeId(const Config& config, const std::string& data_dir);

class ClusterNode final : private RedisBusListener {
 public:
  // Resolves the node id (--node-id, else <data_dir>/node-id, generated once; --data-dir is the
  // store's option) and starts the bus, which connects (and reconnects) by itself. nullptr with
  // a one-line reason on stderr on failure.
  static std::unique_ptr<ClusterNode> Create(const Config& config, const std::string& data_dir);
  ~ClusterNode() override;

  // Before Start: publications on channels starting with `prefix` go to `listener` (on the
  // bus thread).
  void Route(std::string prefix, RedisBusListener* listener);
  // Before Start: told of registrations and dead nodes (from the first heartbeat after Start).
  void Watch(ClusterWatcher* watcher) { watcher_ = watcher; }
  // Once the shards can take mail (ShardSet's started hook): publications from other nodes
  // reach them from now on; before, they are dropped (nobody can be waiting for them).
  void Start(ShardSet& shards);
  // After the shards have stopped: writes what is queued (briefly) and stops the bus.
  void Stop();

  const std::string& node_id() const { return node_id_; }
  RedisBusSet& bus() { return *bus_; }
  NodeRegistry& registry() { return *registry_; }
  // Any thread: the bus is connected and the node's registration is current (GET /ready).
  bool ready() const;
  // Any thread: the bus's and the registration's figures (docs/metrics.md).
  void CollectMetrics(MetricSet& out) const;

  // /raw/{channel} across nodes; any shard thread.
  void FollowRaw(std::string_view channel);
  void UnfollowRaw(std::string_view channel);
  void PublishRaw(std::string_view channel, ws::Opcode opcode, std::span<const uint8_t> payload);
  // The /raw interest snapshot: written by each channel's home shard, read by the bus thread.
  TopicInterest& raw_interest() { return *raw_interest_; }

 private:
  explicit ClusterNode(std::string node_id);
  void OnPublication(std::string_view channel, std::string_view payload) override;
  void OnMaybeMissed(std::string_view channel) override;
  void OnConnected() override;
  void OnTick() override;
  RedisBusListener* RouteOf(std::string_view channel) const;

  const std::string node_id_;
  bool sentinel_ = false;  // --redis names sentinels.
  std::vector<std::pair<std::string, RedisBusListener*>> routes_;
  ShardSet* shards_ = nullptr;
  ClusterWatcher* watcher_ = nullptr;
  std::atomic<bool> started_{false};
  std::mutex missed_before_start_mutex_;
  std::vector<std::string> missed_before_start_;  // OnMaybeMissed before Start: replayed.
  std::unique_ptr<TopicInterest> raw_interest_;   // Before the bus: its thread reads it.
  std::unique_ptr<RedisBusSet> bus_;
  // Built right after the bus, whose thread may already call OnConnected/OnTick: null until
  // then (the first heartbeat goes at the next tick).
  std::atomic<NodeRegistry*> registry_ptr_{nullptr};
  std::unique_ptr<NodeRegistry> registry_;
};

}  // namespace cluster
}  // namespace ringcast
