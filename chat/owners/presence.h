// PresenceOwner: the presence of the users one shard owns (UserOwnerShard(id) == that shard):
// their connections on every shard, online/offline with the reconnect grace (--presence-grace),
// and the per-user connection limit (--max-conns-per-user).
//
// Pure bookkeeping: the UserOwner does the mail, the store write and the broadcast from the
// changes it reports. The grace period is measured on the monotonic clock; `last_online` is a
// wall-clock timestamp, shown to users.
//
// Memory: a user has a record only while it has a connection or its grace period runs. A user
// gone offline is forgotten: its `last_online` is in the store and in the broadcast, and a user
// with no record is offline.
//
// Owner: the user's owner shard.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/net/connection.h"
#include "core/runtime/clock.h"

namespace ringcast::chat {

class PresenceOwner {
 public:
  struct Change {
    int64_t user = 0;
    bool online = false;
    std::optional<int64_t> last_online;  // Wall-clock ms.
    // Cluster mode: the transition's number in Redis (rc:presence-seq), by which replicas
    // order transitions made on different nodes; 0 on a single node (always applied).
    uint64_t seq = 0;
  };

  PresenceOwner(const Clock& clock, uint32_t max_conns_per_user, uint32_t grace_s);

  // Counts `conn` for `user`; false (and nothing counted) when the user already has
  // max_conns_per_user connections. Sets *came_online when the user goes online now (not when it
  // returns within its grace period: nobody saw it leave).
  bool Attach(int64_t user, ConnId conn, std::optional<Change>* came_online);
  // Forgets `conn`; false when it was not counted (refused at Attach). After the user's last
  // connection its grace period starts: it goes offline at the first Sweep after it, unless one
  // returns.
  bool Detach(int64_t user, ConnId conn);
  // The users whose grace period has ended, now offline (and forgotten).
  std::vector<Change> Sweep();

  bool online(int64_t user) const;
  // The user's connections counted here.
  uint32_t connections(int64_t user) const;
  // (user, connections) for every user with a connection.
  std::vector<std::pair<int64_t, uint32_t>> Connected() const;
  size_t users() const { return users_.size(); }

 private:
  struct OwnedUser {
    std::vector<ConnId> connections;
    bool online = false;
    std::optional<int64_t> last_online;
    std::optional<int64_t> offline_at_ms;  // Monotonic; set while the grace period runs.
    bool grace_listed = false;             // In grace_pending_ (at most once).
  };

  const Clock& clock_;
  const uint32_t max_conns_per_user_;
  const int64_t grace_ms_;
  std::unordered_map<int64_t, OwnedUser> users_;
  std::vector<int64_t> grace_pending_;  // Users whose grace period may be running.
};

}  // namespace ringcast::chat
