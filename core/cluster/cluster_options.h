// Cluster mode's options (docs/cluster.md) and the flags that set them (cluster_flags.cc).
#pragma once

#include <cstdint>
#include <string>

namespace ringcast {
class FlagRegistry;
}  // namespace ringcast

namespace ringcast::cluster {

struct ClusterOptions {
  std::string redis_url;  // Empty: a single node.
  std::string node_id;    // Empty: <data_dir>/node-id, generated once.
  uint32_t redis_max_queued = 65536;
  uint32_t redis_sentinel_timeout_ms = 500;
  uint32_t cluster_check_interval_s = 5;
  uint32_t node_ttl_s = 10;   // Registry entry without a heartbeat, then dead.
  bool forward_sends = true;  // A conversation's messages committed by one node.
  uint32_t forward_timeout_ms = 1000;
  std::string advertise_address;  // Empty: host:port (the host name for 0.0.0.0 / ::).
  // A draining node's chat clients reconnect after a delay drawn from [0, this] each.
  uint32_t reconnect_jitter_ms = 2000;
};

void RegisterClusterFlags(FlagRegistry& flags, ClusterOptions* options);

}  // namespace ringcast::cluster
