// ClusterPresence: presence and the per-user connection limit over every node of a cluster, kept
// in Redis (docs/cluster.md, "Presence across nodes").
//
// Each node's UserOwner still counts its own connections per user (PresenceOwner); in cluster
// mode it tells Redis its count after every change, and Redis decides:
//   rc:conns:<user>       hash  node → that user's connections on that node
//   rc:node-users:<node>  set   users with connections on that node (to clean up after it)
//   rc:online             set   users online (including those within their grace period)
//   rc:grace              zset  user → when its grace period ends (Redis ms)
//   rc:left               hash  user → when its last connection closed (its last_online)
//   rc:presence-seq       every online/offline transition takes the next number (at least
//                         Redis's time in microseconds, so it grows across a Redis restart),
//                         so that replicas apply transitions in the order Redis made them.
// Counts are absolute (a node sets its count, never adds): a call repeated, or one made again
// after Redis lost the node's state (Reassert), converges. Every script reads the time from
// Redis (TIME): the nodes' clocks need not agree.
//
// Who does what: the user's owner shard on the node where a connection opens or closes calls
// Attach/Detach and publishes an online transition; shard 0 of each node sweeps the grace
// periods once a second (Sweep: exactly one node pops each user, writes its last_online and
// publishes its offline transition); the node whose heartbeat found another node dead reaps
// that node's connections (OnNodeDead), whose users then go offline after their grace period
// unless they reconnect elsewhere; a node whose own state in Redis may be lost reaps itself
// and has every UserOwner re-assert its counts (OnRegistered(fresh)).
//
// Owner: ChatService (built with the ClusterLink). Calls from any thread; every callback runs
// on the bus thread (or at once when the bus refuses the call) and must only post mail.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/cluster/cluster_node.h"

namespace ringcast::chat {

class ChatService;

class ClusterPresence final : public cluster::ClusterWatcher {
 public:
  // An online or offline transition Redis made.
  struct Transition {
    int64_t user = 0;
    bool online = false;
    int64_t last_online_ms = 0;  // Wall clock (Redis's).
    uint64_t seq = 0;            // rc:presence-seq.
  };
  enum class Verdict : uint8_t { kAccepted, kRefused, kUnavailable };

  ClusterPresence(ChatService& service, cluster::ClusterNode& node);

  // This node now has `count` (>= 1) connections of `user`, one more than before: refused when
  // the user would then have more than --max-conns-per-user on all nodes together.
  void Attach(int64_t user, uint32_t count,
              std::function<void(Verdict, std::optional<Transition>)> done);
  // This node now has `count` connections of `user`, fewer than before. Offline at once only
  // when --presence-grace is 0; else the grace period starts, and Sweep ends it.
  void Detach(int64_t user, uint32_t count);
  // Sets this node's counts for `users` (after its state in Redis was lost); users who were
  // not online anywhere come online.
  void Reassert(std::vector<std::pair<int64_t, uint32_t>> users);
  // Shard 0, once a second: ends the grace periods that are over (those users go offline), and
  // takes the second look of a Resync when it is due.
  void Sweep(int64_t now_ms);
  // After rc:all may have missed transitions: every shard's replica takes who is online in
  // Redis now, but takes departures only from a second look --node-ttl later. A user absent
  // from the first may only be waiting for its node to re-assert it (Redis restarted empty);
  // every live node has done so within its TTL.
  void Resync();
  // Marks the node's state in Redis as possibly lost (a call went unanswered): the next
  // heartbeat re-asserts it.
  void NoteStateLost();

  // cluster::ClusterWatcher (the bus thread).
  void OnRegistered(bool fresh) override;
  void OnNodeDead(std::string_view node) override;
  void OnStopping() override;

 private:
  // Takes `node`'s connections out of Redis, `chunk` users per call; `done` after the last.
  void Reap(std::string node, size_t chunk, std::function<void()> done);
  // Hands `transitions` to their users' owner shards (UserOwner::OnTransition).
  void Deliver(std::vector<Transition> transitions);
  // Who is online in Redis, with the rc:presence-seq that holds at, to every shard's replica.
  void Snapshot(bool with_departures);

  ChatService& service_;
  cluster::ClusterNode& node_;
  const std::string node_id_;
  const std::string grace_ms_;
  // Monotonic ms at which a Resync's second look is due; 0 when none is.
  std::atomic<int64_t> confirm_due_ms_{0};
};

}  // namespace ringcast::chat
