#include "core/cluster/cluster_node.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/log.h"
#include "core/metrics/metric_set.h"
#include "core/net/shared_frame.h"
#include "core/pubsub/topic_table.h"
#include "core/runtime/shard.h"
#include "core/runtime/shard_set.h"

namespace ringcast::cluster {
namespace {

constexpr std::string_view kRawPrefix = "rc:raw:";
constexpr const char* kNodeIdFile = "node-id";
// Channels subscribed before the shards run are the few every node follows (rc:all).
constexpr size_t kMaxMissedBeforeStart = 64;

// --advertise-address, else where this node listens (its host name when on every address).
std::string AdvertisedAddress(const Config& config) {
  if (!config.advertise_address.empty()) return config.advertise_address;
  std::string host = config.host;
  if (host.empty() || host == "0.0.0.0" || host == "::") {
    char name[HOST_NAME_MAX + 1] = {};
    host = gethostname(name, sizeof name) == 0 ? name : "localhost";
  }
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  host.append(":").append(std::to_string(config.port));
  return host;
}

}  // namespace

std::string ResolveNodeId(const Config& config, const std::string& data_dir) {
  if (!config.node_id.empty()) return config.node_id;
  const std::filesystem::path path = std::filesystem::path(data_dir) / kNodeIdFile;
  if (std::ifstream in(path); in) {
    std::string id;
    std::getline(in, id);
    if (ValidNodeId(id)) return id;
    std::fprintf(stderr, "ringcast: %s does not hold a node id (1-64 of [A-Za-z0-9._-])\n",
                 path.c_str());
    return {};
  }
  std::random_device random;
  char id[16];
  std::snprintf(id, sizeof id, "n-%08x", unsigned(random()));
  std::error_code error;
  std::filesystem::create_directories(data_dir, error);
  std::ofstream out(path);
  out << id << "\n";
  out.close();
  if (!out) {
    std::fprintf(stderr, "ringcast: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
    return {};
  }
  return id;
}

std::unique_ptr<ClusterNode> ClusterNode::Create(const Config& config,
                                                 const std::string& data_dir) {
  std::string error;
  auto addresses = ParseRedisList(config.redis_url, &error);
  if (!addresses) {
    std::fprintf(stderr, "ringcast: --redis: %s\n", error.c_str());
    return nullptr;
  }
  std::string node_id = ResolveNodeId(config, data_dir);
  if (node_id.empty()) return nullptr;
  std::unique_ptr<ClusterNode> node(new ClusterNode(node_id));
  node->raw_interest_ = std::make_unique<TopicInterest>(config.threads);
  for (const RedisAddress& address : *addresses) node->sentinel_ |= address.sentinel();
  RedisBusOptions options{
      .node_id = std::move(node_id),
      .max_queued = config.redis_max_queued,
      .sentinel_timeout = std::chrono::milliseconds(config.redis_sentinel_timeout_ms),
      .log = [](bool warning, const std::string& line) {
        if (warning) {
          RC_LOG(kWarn, "%s", line.c_str());
        } else {
          RC_LOG(kInfo, "%s", line.c_str());
        }
      }};
  node->bus_ = RedisBusSet::Start(*addresses, std::move(options), *node, &error);
  if (!node->bus_) {
    std::fprintf(stderr, "ringcast: cannot start the Redis bus: %s\n", error.c_str());
    return nullptr;
  }
  ClusterNode* self = node.get();
  node->registry_ = std::make_unique<NodeRegistry>(
      *node->bus_,
      NodeRegistryOptions{.node_id = node->node_id_,
                          .address = AdvertisedAddress(config),
                          .shards = config.threads,
                          .ttl = std::chrono::seconds(config.node_ttl_s)},
      [self] {
        uint64_t connections = 0;
        if (!self->started_.load(std::memory_order_acquire)) return connections;
        for (uint32_t i = 0; i < self->shards_->size(); ++i) {
          connections += self->shards_->shard(i).recent_connection_count();
        }
        return connections;
      });
  node->registry_ptr_.store(node->registry_.get(), std::memory_order_release);
  std::string where;
  for (size_t i = 0; i < addresses->size(); ++i) {
    where += (i > 0 ? ", " : "") + (*addresses)[i].ToString();
  }
  RC_LOG(kInfo, "cluster mode: node %s, Redis at %s%s", node->node_id_.c_str(), where.c_str(),
         addresses->size() > 1 ? " (channels hashed over them, calls on the first)" : "");
  return node;
}

ClusterNode::ClusterNode(std::string node_id) : node_id_(std::move(node_id)) {}

ClusterNode::~ClusterNode() { Stop(); }

void ClusterNode::Route(std::string prefix, RedisBusListener* listener) {
  routes_.emplace_back(std::move(prefix), listener);
}

void ClusterNode::Start(ShardSet& shards) {
  shards_ = &shards;
  std::vector<std::string> missed;
  {
    std::lock_guard lock(missed_before_start_mutex_);
    started_.store(true, std::memory_order_release);
    missed.swap(missed_before_start_);
  }
  registry_->SetWatcher(watcher_);
  for (const std::string& channel : missed) {
    if (RedisBusListener* listener = RouteOf(channel)) listener->OnMaybeMissed(channel);
  }
}

bool ClusterNode::ready() const { return bus_->stats().connected && registry_->registered(); }

void ClusterNode::OnConnected() {
  if (NodeRegistry* registry = registry_ptr_.load(std::memory_order_acquire)) {
    registry->OnConnected();
  }
}

void ClusterNode::CollectMetrics(MetricSet& out) const {
  out.Gauge("ringcast_cluster_registered",
            "1 while this node's registry entry is current (its last heartbeat was answered)",
            ready() ? 1 : 0);
  out.Gauge("ringcast_cluster_live_nodes",
            "Live nodes in the registry (this one included) at this node's last heartbeat",
            double(registry_->LiveNodes()->size()));
  // Per Redis instance (--redis may list several), labelled `redis`, not `instance`: that is
  // Prometheus's own label for the scraped node (deploy/grafana groups by it).
  for (size_t i = 0; i < bus_->size(); ++i) {
    const RedisBusStats bus = bus_->stats(i);
    const MetricLabels labels = {{"redis", bus_->name(i)}};
    out.Gauge("ringcast_redis_connected",
              "1 while both Redis connections (publish, subscribe) are up", bus.connected ? 1 : 0,
              labels);
    out.Counter("ringcast_redis_publishes_total", "PUBLISH commands written to Redis",
                double(bus.published), labels);
    out.Counter("ringcast_redis_writes_total", "write(2) calls that carried PUBLISHes (pipelining)",
                double(bus.writes), labels);
    out.Counter("ringcast_redis_received_total", "Publications from other nodes received",
                double(bus.received), labels);
    out.Counter("ringcast_redis_dropped_total",
                "Publications never written (queue bound, or Redis unreachable)",
                double(bus.dropped), labels);
    out.Counter("ringcast_redis_unconfirmed_total",
                "PUBLISHes written to a connection that broke before Redis answered (maybe lost)",
                double(bus.unconfirmed), labels);
    out.Counter("ringcast_redis_reconnects_total", "Redis connections re-established",
                double(bus.reconnects), labels);
    out.Gauge("ringcast_redis_subscriptions", "Channels subscribed now", double(bus.subscribed),
              labels);
    out.Counter("ringcast_redis_calls_total", "Redis commands with a reply (scripts, counters)",
                double(bus.calls), labels);
    out.Counter("ringcast_redis_calls_failed_total", "Redis commands answered unavailable",
                double(bus.calls_failed), labels);
    if (!bus.master.empty()) {
      out.Gauge("ringcast_redis_master",
                "1 for the Redis master this node uses (redis+sentinel://: as the sentinels last "
                "answered)",
                1, {{"redis", bus_->name(i)}, {"address", bus.master}});
    }
    if (sentinel_) {
      out.Counter("ringcast_redis_failovers_total",
                  "Times the sentinels named another master (answer or +switch-master)",
                  double(bus.failovers), labels);
      out.Gauge("ringcast_redis_sentinel_connected",
                "1 while a sentinel has answered and is watched for +switch-master",
                bus.sentinel_connected ? 1 : 0, labels);
    }
  }
}

void ClusterNode::OnTick() {
  if (NodeRegistry* registry = registry_ptr_.load(std::memory_order_acquire)) registry->OnTick();
  if (!started_.load(std::memory_order_acquire)) return;
  // The routes retry what a full shard inbox refused (ExternalMail's kMayFail): each listener
  // once, however many prefixes it routes.
  for (size_t i = 0; i < routes_.size(); ++i) {
    RedisBusListener* listener = routes_[i].second;
    bool seen = false;
    for (size_t j = 0; j < i; ++j) seen = seen || routes_[j].second == listener;
    if (!seen) listener->OnTick();
  }
}

void ClusterNode::Stop() {
  if (!bus_) return;
  // Gone from the registry at once rather than after --node-ttl (written by the Stop below).
  if (watcher_ != nullptr && started_.load(std::memory_order_acquire)) watcher_->OnStopping();
  registry_->Deregister();
  bus_->Stop();
  registry_ptr_.store(nullptr, std::memory_order_release);
  started_.store(false, std::memory_order_release);
  RedisBusStats stats = bus_->stats();
  RC_LOG(kInfo,
         "redis bus: %llu publications in %llu writes, %llu received, %llu dropped, %llu "
         "unconfirmed, %llu reconnects",
         static_cast<unsigned long long>(stats.published),
         static_cast<unsigned long long>(stats.writes),
         static_cast<unsigned long long>(stats.received),
         static_cast<unsigned long long>(stats.dropped),
         static_cast<unsigned long long>(stats.unconfirmed),
         static_cast<unsigned long long>(stats.reconnects));
  bus_.reset();
}

RedisBusListener* ClusterNode::RouteOf(std::string_view channel) const {
  for (const auto& [prefix, listener] : routes_) {
    if (channel.starts_with(prefix)) return listener;
  }
  return nullptr;
}

void ClusterNode::OnPublication(std::string_view channel, std::string_view payload) {
  // Before the shards can take mail nobody can be waiting for a publication.
  if (!started_.load(std::memory_order_acquire)) return;
  if (!channel.starts_with(kRawPrefix)) {
    if (RedisBusListener* listener = RouteOf(channel)) listener->OnPublication(channel, payload);
    return;
  }
  // Raw: the first byte is the opcode, then the message as the client sent it.
  if (payload.empty()) return;
  const auto opcode = static_cast<ws::Opcode>(payload[0]);
  if (opcode != ws::Opcode::kText && opcode != ws::Opcode::kBinary) return;
  payload.remove_prefix(1);
  const std::string_view name = channel.substr(kRawPrefix.size());
  // Straight to the shards with subscribers (a home's snapshot; core/pubsub/topic_interest.h),
  // which deliver it to theirs; it never goes back to Redis (only a local client's message is
  // published there).
  TopicTable::PublishFromBus(
      *raw_interest_, shards_->external_mail(), shards_->size(), name,
      SharedFrame::EncodeMessage(
          opcode, {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()}));
}

void ClusterNode::OnMaybeMissed(std::string_view channel) {
  if (!started_.load(std::memory_order_acquire)) {
    // A subscription confirmed before the shards run (rc:all at start): told at Start.
    std::lock_guard lock(missed_before_start_mutex_);
    if (!started_.load(std::memory_order_acquire)) {
      if (missed_before_start_.size() < kMaxMissedBeforeStart) {
        missed_before_start_.emplace_back(channel);
      }
      return;
    }
  }
  // Raw channels promise nothing across a Redis outage (they are not stored): only routes
  // with a store behind them can fill what was missed.
  if (channel.starts_with(kRawPrefix)) return;
  if (RedisBusListener* listener = RouteOf(channel)) listener->OnMaybeMissed(channel);
}

void ClusterNode::FollowRaw(std::string_view channel) {
  bus_->Subscribe(std::string(kRawPrefix) + std::string(channel));
}

void ClusterNode::UnfollowRaw(std::string_view channel) {
  bus_->Unsubscribe(std::string(kRawPrefix) + std::string(channel));
}

void ClusterNode::PublishRaw(std::string_view channel, ws::Opcode opcode,
                             std::span<const uint8_t> payload) {
  std::string framed;
  framed.reserve(1 + payload.size());
  framed.push_back(char(opcode));
  framed.append(reinterpret_cast<const char*>(payload.data()), payload.size());
  bus_->Publish(std::string(kRawPrefix) + std::string(channel), framed);
}

}  // namespace ringcast::cluster
