// The user owner: presence and the per-user connection limit.
#include "chat/user_owner.h"

#include <optional>

#include "chat/chat_shard.h"
#include "chat/frame_ref.h"
#include "core/log.h"
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
  if (came_online) BroadcastPresence(*came_online);
  service_.Post(conn.shard,
                [conn, accepted](ChatShard& self) { self.sessions().OnAttached(conn, accepted); });
}

void UserOwner::Detach(int64_t user, ConnId conn) {
  presence_.Detach(user, conn);
  if (service_.config().presence_grace_s == 0) Sweep();
}

void UserOwner::Sweep() {
  for (const PresenceOwner::Change& change : presence_.Sweep()) {
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

void UserOwner::BroadcastPresence(const PresenceOwner::Change& change) {
  SharedFrame* frame = EncodeText(EncodePresence(change.user, change.online, change.last_online));
  uint32_t shards = service_.shard_count();
  if (shards > 1) frame->AddRefs(shards - 1);
  service_.PostToEveryShard([&] {
    return [user = change.user, online = change.online, last = change.last_online,
            ref = FrameRef(frame)](ChatShard& self) mutable {
      self.sessions().OnPresence(user, online, last, ref.Take());
    };
  });
}

}  // namespace ringcast::chat
