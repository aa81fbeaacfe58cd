#include <cstdio>

#include "core/cluster/cluster_options.h"
#include "core/cluster/redis_bus_set.h"
#include "core/flags.h"

namespace ringcast::cluster {

void RegisterClusterFlags(FlagRegistry& flags, ClusterOptions* options) {
  flags.Add({
      {"redis", &options->redis_url,
       "Cluster mode: the Redis every node shares for fan-out (docs/cluster.md); needs "
       "--database-url. redis://[[user]:password@]host:port[/db], or through Sentinel: "
       "redis+sentinel://[[user]:password@]host:port[,host:port...]/MASTER-NAME[/db]"
       "[?sentinel_user=U&sentinel_password=P] (docs/cluster.md, \"High availability\"); or "
       "several of these, comma-separated (redis://a:6379,redis://b:6379): channels are "
       "hashed over them, calls go to the first. Empty: a single node",
       std::nullopt, "RINGCAST_REDIS_URL"},
      {"node-id", &options->node_id,
       "This node's name in the cluster, 1-64 of [A-Za-z0-9._-] (default: generated once, "
       "kept in the data dir)"},
      Bounded("redis-max-queued", &options->redis_max_queued, 16, 1 << 24,
              "Publications waiting for Redis at most (while it is slow or away); more are dropped "
              "and the other nodes read them from the store"),
      Bounded("redis-sentinel-timeout-ms", &options->redis_sentinel_timeout_ms, 10, 60000,
              "Cluster mode with redis+sentinel://: a sentinel that has not connected and answered "
              "where the master is within this many milliseconds is skipped for the next one"),
      Bounded("cluster-check-interval", &options->cluster_check_interval_s, 1, 3600,
              "Cluster mode: seconds between checks of every followed conversation's newest seq "
              "against the store (catches a lost last publication)"),
      Bounded("node-ttl", &options->node_ttl_s, 2, 3600,
              "Cluster mode: seconds a node stays in the registry without a heartbeat (one a "
              "second); past it the node counts as dead and its users go offline after "
              "--presence-grace"),
      {"forward-sends", &options->forward_sends,
       "Cluster mode: commit each conversation's messages on one node (chosen by "
       "rendezvous hashing over the live nodes), forwarding sends to it through Redis "
       "(docs/cluster.md, \"Writers\")"},
      Bounded("forward-timeout-ms", &options->forward_timeout_ms, 10, 60000,
              "Cluster mode: a forwarded send whose writer has not answered within this many "
              "milliseconds is committed by this node (safe: the cid makes it a duplicate if the "
              "writer did commit it), and that writer is skipped for --node-ttl"),
      {"advertise-address", &options->advertise_address,
       "Cluster mode: the host:port this node shows in the registry (default: "
       "--host:--port, the host name when listening on every address)"},
      Bounded(
          "reconnect-jitter-ms", &options->reconnect_jitter_ms, 0, 3600000,
          "Cluster mode: on SIGTERM each chat client is told to reconnect (to any node) after a "
          "delay drawn uniformly from 0 to this many milliseconds, then closed 1012"),
  });
  flags.AddSecretFile({"redis", "--redis-url-file", "RINGCAST_REDIS_URL_FILE"});
  flags.AddCheck([options] {
    std::string error;
    if (!options->redis_url.empty() && !ParseRedisList(options->redis_url, &error)) {
      std::fprintf(stderr, "ringcast: --redis: %s\n", error.c_str());
      return false;
    }
    if (!options->node_id.empty() && !ValidNodeId(options->node_id)) {
      std::fprintf(stderr, "ringcast: --node-id must be 1-64 of [A-Za-z0-9._-], got '%s'\n",
                   options->node_id.c_str());
      return false;
    }
    return true;
  });
}

}  // namespace ringcast::cluster
