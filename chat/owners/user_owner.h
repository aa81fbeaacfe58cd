// UserOwner: the owner role for the users with ChatService::UserOwnerShard(id) == this shard
// (chat/README.md, "Who owns what"). It counts their connections on every shard of this node
// (refusing one past --max-conns-per-user), decides their presence with the reconnect grace
// (PresenceOwner), stores last_online, and tells every shard's ContactPresence (OnPresence), which
// keeps a replica.
//
// In cluster mode (docs/cluster.md) the decisions move to Redis (ClusterPresence): the owner
// still counts this node's connections and tells Redis each new count; Redis says whether a
// connection is within the limit over all nodes and when a user comes online or goes offline
// anywhere; the owner publishes those transitions to the other nodes (ClusterLink) besides its
// own shards. Without an answer from Redis it decides alone, as a single node would, and the
// node re-asserts its counts once Redis answers again.
//
// Owner: its shard's thread (one per ChatShard). Reached by mail through UserLink, and from
// ClusterPresence.
#pragma once

#include <cstdint>

#include "chat/cluster/cluster_presence.h"
#include "chat/owners/presence.h"
#include "core/net/connection.h"

namespace ringcast {
class Shard;
}

namespace ringcast::chat {

class ChatService;

class UserOwner {
 public:
  UserOwner(Shard& shard, ChatService& service);

  // Counts `conn` for `user` and answers SessionHost::OnAttached on the connection's shard.
  void Attach(int64_t user, ConnId conn);
  void Detach(int64_t user, ConnId conn);
  // Once a second (and at once after a detach when --presence-grace is 0): the users whose
  // grace period has ended go offline.
  void Sweep();

  // Cluster mode: a transition Redis made for a user this shard owns.
  void OnTransition(const ClusterPresence::Transition& transition);
  // Cluster mode: tells Redis this node's count of every user this shard owns (its state
  // there was lost).
  void Reassert();

  // Users this shard owns with a connection on this node, or within their grace period.
  size_t online_count() const { return presence_.users(); }

 private:
  void OnClusterAttached(int64_t user, ConnId conn, ClusterPresence::Verdict verdict,
                         std::optional<ClusterPresence::Transition> transition,
                         bool came_online_here);
  // Encodes the change once and hands every shard (this one too) a reference.
  void BroadcastPresence(const PresenceOwner::Change& change);

  Shard& shard_;
  ChatService& service_;
  PresenceOwner presence_;  // The users this shard owns (their connections on this node).
};

// Encodes `change` once and hands every shard of this node a reference
// (ContactPresence::OnPresence). Any thread.
void BroadcastPresenceChange(ChatService& service, const PresenceOwner::Change& change);

}  // namespace ringcast::chat
