// The user owner: presence and the per-user connection limit.
#include "chat/owners/user_owner.h"

#include <optional>

#include "chat/chat_shard.h"
#include "chat/cluster/cluster_link.h"
#include "chat/frame_ref.h"
#include "core/log.h"
#include "core/runtime/fan_out.h"
#include "core/runtime/shard.h"

namespace ringcast::chat {

UserOwner::UserOwner(Shard& shard, ChatService& service)
    : shard_(shard),
      service_(service),
      presence_(service.clock(), service.config().max_conns_per_user,
                service.config().presence_grace_s) {}

void UserOwner::Attach(int64_t user, ConnId conn) {
  std::optional<PresenceOwner::Change> came_online;
  bool accepted = presence_.Attach(user, conn, &came_online);
  if (ClusterPresence* cluster = service_.cluster_presence(); cluster != nullptr && accepted) {
    // Within this node's limit; Redis judges the limit over all nodes, and the presence.
    cluster->Attach(
        user, presence_.connections(user),
        [&service = service_, owner = shard_.id(), user, conn, here = came_online.has_value()](
            ClusterPresence::Verdict verdict,
            std::optional<ClusterPresence::Transition> transition) {
          service.PostOrHold(owner, [=](ChatShard& self) {
            self.users().OnClusterAttached(user, conn, verdict, transition, here);
          });
        });
    return;
  }
  if (came_online) BroadcastPresence(*came_online);
  service_.PostOrHold(conn.shard, [conn, accepted](ChatShard& self) {
    self.sessions().OnAttached(conn, accepted);
  });
}

void UserOwner::OnClusterAttached(int64_t user, ConnId conn, ClusterPresence::Verdict verdict,
                                  std::optional<ClusterPresence::Transition> transition,
                                  bool came_online_here) {
  ClusterPresence& cluster = *service_.cluster_presence();
  bool accepted = true;
  switch (verdict) {
    case ClusterPresence::Verdict::kAccepted:
      if (transition) OnTransition(*transition);
      break;
    case ClusterPresence::Verdict::kRefused:
      accepted = false;
      presence_.Detach(user, conn);
      // Calls made meanwhile counted `conn`: Redis gets the count without it.
      cluster.Detach(user, presence_.connections(user));
      break;
    case ClusterPresence::Verdict::kUnavailable:
      // Decided here, as on a single node; the node re-asserts its counts once Redis answers.
      cluster.NoteStateLost();
      if (came_online_here) {
        BroadcastPresence(PresenceOwner::Change{user, true, service_.clock().WallMs()});
      }
      break;
  }
  service_.PostOrHold(conn.shard, [conn, accepted](ChatShard& self) {
    self.sessions().OnAttached(conn, accepted);
  });
}

void UserOwner::Detach(int64_t user, ConnId conn) {
  const bool counted = presence_.Detach(user, conn);
  if (ClusterPresence* cluster = service_.cluster_presence()) {
    if (counted) cluster->Detach(user, presence_.connections(user));
    return;
  }
  if (service_.config().presence_grace_s == 0) Sweep();
}

void UserOwner::Sweep() {
  std::vector<PresenceOwner::Change> went_offline = presence_.Sweep();
  if (ClusterPresence* cluster = service_.cluster_presence()) {
    // Redis decides (the local records are only forgotten); one shard per node asks it.
    if (shard_.id() == 0) cluster->Sweep(service_.clock().MonotonicMs());
    return;
  }
  for (const PresenceOwner::Change& change : went_offline) {
    // Told once last_online is committed, so that a session starting after the event reads
    // the same last_online from the store. Skipped if the user came back meanwhile: its
    // online event has gone out already, and this one would contradict it.
    service_.store().SetLastOnline(
        change.user, *change.last_online,
        service_.ReplyOn<bool>(shard_.id(), [change](ChatShard& self, storage::Result<bool> r) {
          if (!r.ok() && r.status().errc() != storage::Errc::kUnavailable) {
            RC_LOG(kWarn, "last_online of user %lld not stored: %s",
                   static_cast<long long>(change.user), r.status().ToString().c_str());
          }
          UserOwner& owner = self.users();
          if (!owner.presence_.online(change.user)) owner.BroadcastPresence(change);
        }));
  }
}

void UserOwner::OnTransition(const ClusterPresence::Transition& transition) {
  const PresenceOwner::Change change{transition.user, transition.online, transition.last_online_ms,
                                     transition.seq};
  BroadcastPresence(change);
  service_.cluster()->PublishPresence(change);
  if (transition.online) return;
  // Only the node that made the transition writes it: once per offline transition.
  service_.store().SetLastOnline(
      change.user, *change.last_online, [user = change.user](storage::Result<bool> r) {
        if (!r.ok() && r.status().errc() != storage::Errc::kUnavailable) {
          RC_LOG(kWarn, "last_online of user %lld not stored: %s", static_cast<long long>(user),
                 r.status().ToString().c_str());
        }
      });
}

void UserOwner::Reassert() {
  if (ClusterPresence* cluster = service_.cluster_presence()) {
    cluster->Reassert(presence_.Connected());
  }
}

void UserOwner::BroadcastPresence(const PresenceOwner::Change& change) {
  BroadcastPresenceChange(service_, change);
}

void BroadcastPresenceChange(ChatService& service, const PresenceOwner::Change& change) {
  SharedFrame* frame = EncodeText(EncodePresence(change.user, change.online, change.last_online));
  // Every shard takes it: a refused task is held and posted again (PostOrHold).
  FanOut(ShardMask::All(service.shard_count()), frame, [&](uint32_t shard) {
    service.PostOrHold(shard, [change, ref = FrameRef(frame)](ChatShard& self) mutable {
      self.sessions().presence().OnPresence(change, ref.Take());
    });
    return true;
  });
}

}  // namespace ringcast::chat
