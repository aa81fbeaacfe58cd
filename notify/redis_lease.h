// RedisLease: in cluster mode, the one node that notifies (docs/cluster.md, notify/README.md).
// The key rc:notifier holds the holder's node id with a TTL of kLeaseMs; Hold() takes it when it
// is free and refreshes it when this node holds it, in one script (atomic in Redis), before
// every poll. A node that stops refreshing (dead, partitioned, stopped) loses the lease after
// the TTL and another node takes it at its next poll. Two nodes may both believe they hold it
// only across that hand-over (a holder stalled past the TTL inside a poll); the watermarks and
// idempotency keys make that a repeat with the same key, never a loss.
//
// Owner: the notifier's thread (Hold blocks for the reply, at most kWaitMs).
#pragma once

#include <string>

#include "core/cluster/redis_bus_set.h"
#include "notify/notifier.h"

namespace ringcast::notify {

class RedisLease final : public NotifierLease {
 public:
  static constexpr int64_t kLeaseMs = 10000;
  static constexpr int64_t kWaitMs = 2000;

  RedisLease(cluster::RedisBusSet& bus, std::string node_id)
      : bus_(bus), node_id_(std::move(node_id)) {}
  bool Hold() override;

 private:
  cluster::RedisBusSet& bus_;
  const std::string node_id_;
};

}  // namespace ringcast::notify
