// UserLink: how the sessions of one shard reach the owner of a user (presence, the per-user
// connection limit), wherever it runs: today the shard ChatService::UserOwnerShard(id)
// (id % shards) of this process.
//
// Owner: the SessionHost of one shard, on its thread. Each call is one mail to the user's owner.
#pragma once

#include <cstdint>

#include "core/net/connection.h"

namespace ringcast::chat {

class ChatService;

class UserLink {
 public:
  explicit UserLink(ChatService& service) : service_(service) {}

  // Counts `conn` for `user`; the owner answers SessionHost::OnAttached(conn, accepted) on the
  // connection's shard (refused: the user already has --max-conns-per-user connections).
  void Attach(int64_t user, ConnId conn);
  // `conn` has closed (attached or not).
  void Detach(int64_t user, ConnId conn);

 private:
  ChatService& service_;
};

}  // namespace ringcast::chat
