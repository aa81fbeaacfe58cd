// NodeRegistry: this node's entry in the cluster's registry in Redis (service discovery), and
// the view of the live nodes (docs/cluster.md, "What lives in Redis").
//
// Every `interval` the node refreshes its entry with a TTL (`ttl`, the --node-ttl flag) in one
// script that also removes the entries whose TTL ran out: a node missing its refreshes is dead
// for ownership and presence decisions, and exactly one live node (the one whose script removed
// the entry) is told, so that it cleans up after it. Time is Redis's (TIME), so the nodes' clocks
// need not agree.
//
// A heartbeat is "fresh" when Redis held no live entry of this node: its first start, Redis
// restarted (an empty Redis), the node was declared dead while cut off from Redis, or the node
// said its state there may be lost (NoteStateLost: a call it depends on went unanswered). The
// watcher then re-asserts what the node keeps in Redis (the chat: presence).
//
// Owner: ClusterNode. The heartbeat runs on the bus thread (OnConnected, OnTick); List and
// NoteStateLost from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/cluster/redis_bus_set.h"

namespace ringcast::cluster {

class ClusterWatcher {
 public:
  virtual ~ClusterWatcher() = default;
  // Bus thread: a heartbeat was answered; `fresh` as above.
  virtual void OnRegistered(bool fresh) = 0;
  // Bus thread: this node removed the entry of `node`, whose refreshes stopped.
  virtual void OnNodeDead(std::string_view node) = 0;
  // The stopping thread, before the node leaves the registry (a clean stop): what the watcher
  // keeps in Redis for this node goes, through calls queued now (written by the bus's Stop).
  virtual void OnStopping() = 0;
};

struct NodeRegistryOptions {
  std::string node_id;
  std::string address;  // Where clients or a load balancer reach this node (host:port).
  uint32_t shards = 1;
  std::chrono::milliseconds ttl{10000};
  std::chrono::milliseconds interval{1000};
};

class NodeRegistry {
 public:
  // `connections` is called on the bus thread for each heartbeat (it must be thread-safe).
  NodeRegistry(RedisBusSet& bus, NodeRegistryOptions options,
               std::function<uint64_t()> connections);

  // Any thread. Until a watcher is set, a fresh registration stays to be reported.
  void SetWatcher(ClusterWatcher* watcher) { watcher_.store(watcher, std::memory_order_release); }

  // Bus thread.
  void OnConnected();
  void OnTick();

  // Any thread: the live nodes' entries (JSON objects with "expires_in_ms" added), to `done`
  // on the bus thread; nullopt when Redis did not answer.
  void List(std::function<void(std::optional<std::vector<std::string>>)> done);
  // Any thread: the next heartbeat is fresh.
  void NoteStateLost() { state_lost_.store(true, std::memory_order_relaxed); }
  // Any thread: removes this node's entry (a graceful stop), without waiting for the reply.
  void Deregister();
  // Any thread: the last heartbeat was answered, within the TTL.
  bool registered() const;
  // Any thread, cheap: the ids of the live nodes (this one included), sorted, as the last
  // answered heartbeat saw them; empty before the first one.
  std::shared_ptr<const std::vector<std::string>> LiveNodes() const;

 private:
  void Heartbeat();
  std::string Describe() const;

  RedisBusSet& bus_;
  const NodeRegistryOptions options_;
  const std::function<uint64_t()> connections_;
  const int64_t started_ms_;  // Wall clock, shown to operators.
  std::atomic<ClusterWatcher*> watcher_{nullptr};
  // Bus thread.
  bool heartbeat_outstanding_ = false;
  std::chrono::steady_clock::time_point next_heartbeat_at_{};
  // Any thread.
  std::atomic<bool> state_lost_{false};
  std::atomic<int64_t> registered_until_ns_{0};  // steady_clock; 0: never answered.
  mutable std::mutex live_mutex_;
  std::shared_ptr<const std::vector<std::string>> live_ =
      std::make_shared<const std::vector<std::string>>();
};

}  // namespace ringcast::cluster
