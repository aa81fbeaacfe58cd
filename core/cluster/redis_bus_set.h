// RedisBusSet: the cluster's fan-out over one or several Redis instances (--redis takes a list;
// docs/cluster.md, "High availability" → "Several instances").
//
// Owner: ClusterNode builds it; any thread may Publish, Subscribe, Unsubscribe and Call, as on a
// RedisBus. One RedisBus (its own thread, two connections, Sentinel if its URL says so) per
// instance; the set only routes:
//   - a channel to one instance, InstanceOf(channel) = FNV-1a of its name modulo the number of
//     instances: every node computes the same, so publisher and subscriber meet, and one
//     channel's publications keep their order (one channel, one instance, one connection).
//     rc:conv:<id> is thus placed by its conversation id, rc:node:<id> by its node id, and
//     rc:all on one instance like any channel;
//   - every Call (the node registry, presence and --max-conns-per-user, login limits, the
//     notifier lease, the calls' busy marks) to the first instance of the list: their scripts
//     touch global keys (rc:online, rc:nodes, rc:presence-seq...) that must live together.
// Each instance fails on its own: the others keep their channels live; what the failed one
// loses is announced as missed (RedisBusListener::OnMaybeMissed) when it is back, and read from
// the store, as with one Redis. The first instance down is also a Redis outage for the calls.
//
// The listener sees one bus: its callbacks (and the Calls' replies) come from several bus
// threads, so the set runs them one at a time (a recursive mutex: a callback may call again);
// OnTick and OnConnected come from the first instance only (the calls' connection).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/cluster/redis_bus.h"

namespace ringcast::cluster {

// Splits a --redis value into its URLs: at each comma followed by redis:// or redis+sentinel://
// (a sentinel URL's own commas separate its sentinels). Fails on a bad URL, and on two URLs
// naming the same instance (pub/sub ignores the database number).
std::optional<std::vector<RedisAddress>> ParseRedisList(std::string_view value, std::string* error);

// The instance a channel lives on, of `count`.
size_t InstanceOf(std::string_view channel, size_t count);

class RedisBusSet {
 public:
  // One bus per address, each with `options` (its address replaced). Fails only on bad options.
  static std::unique_ptr<RedisBusSet> Start(const std::vector<RedisAddress>& addresses,
                                            RedisBusOptions options, RedisBusListener& listener,
                                            std::string* error);
  ~RedisBusSet();
  RedisBusSet(const RedisBusSet&) = delete;
  RedisBusSet& operator=(const RedisBusSet&) = delete;

  // As RedisBus's, routed by channel.
  void Publish(std::string channel, std::string_view payload);
  void Subscribe(std::string_view channel);
  void Unsubscribe(std::string_view channel);
  // On the first instance.
  void Call(std::vector<std::string> args, RedisCallback done);
  void Stop(std::chrono::milliseconds flush_limit = std::chrono::milliseconds(1000));

  // The sum over the instances; `connected` while every instance is, `master` the first's.
  RedisBusStats stats() const;
  size_t size() const { return buses_.size(); }
  RedisBusStats stats(size_t instance) const { return buses_[instance]->stats(); }
  // The metrics' `redis` label: host:port, or sentinel:MASTER-NAME.
  const std::string& name(size_t instance) const { return names_[instance]; }
  const std::string& node_id() const { return buses_[0]->node_id(); }

 private:
  class Relay;  // redis_bus_set.cc
  RedisBusSet() = default;
  RedisBus& BusOf(std::string_view channel) { return *buses_[InstanceOf(channel, buses_.size())]; }

  std::recursive_mutex listener_mutex_;
  std::vector<std::unique_ptr<Relay>> relays_;  // Before buses_: their threads call them.
  std::vector<std::unique_ptr<RedisBus>> buses_;
  std::vector<std::string> names_;
};

}  // namespace ringcast::cluster
