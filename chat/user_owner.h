// UserOwner: the owner role for the users with ChatService::UserOwnerShard(id) == this shard
// (chat/README.md, "Who owns what"). It counts their connections on every shard (refusing one
// past --max-conns-per-user), decides their presence with the reconnect grace (PresenceOwner),
// stores last_online, and tells every shard's SessionHost (OnPresence), which keeps a replica.
//
// Owner: its shard's thread (one per ChatShard). Reached by mail through UserLink.
#pragma once

#include <cstdint>

#include "chat/presence.h"
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
  // The users whose grace period has ended go offline (once a second, and at once after a
  // detach when --presence-grace is 0).
  void Sweep();

 private:
  // Encodes the change once and hands every shard (this one too) a reference.
  void BroadcastPresence(const PresenceOwner::Change& change);

  Shard& shard_;
  ChatService& service_;
  PresenceOwner presence_;  // The users this shard owns.
};

}  // namespace ringcast::chat
