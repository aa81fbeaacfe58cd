// What every device of one user hears, on this node and on every other, by one call
// (TellEveryDevice): an operation never posts to the shards and publishes to the cluster by hand.
// Each shard delivers it to its sessions (DeliverUserNews); the other nodes get it over rc:all
// (ClusterLink::PublishUserNews, docs/cluster.md) and tell their shards (TellDevicesHere).
//
// A call's notes are not news of this kind: they go to one device, or to the devices in a call
// (chat/calls/call_registry_notes.cc, DeliverCallNote).
#pragma once

#include <cstdint>
#include <string>

namespace ringcast::chat {

class ChatService;
class SessionHost;

struct UserNews {
  enum class Kind : uint8_t {
    kRevoked,  // a token revoked (a login's family, or one access token's jti): its sessions close
    kProfile,  // the user's profile changed: the profile event to their sessions and contacts'
  };
  Kind kind = Kind::kRevoked;
  int64_t user = 0;
  std::string text;      // kRevoked: the jti or family; kProfile: the profile event's JSON
  int64_t until_ms = 0;  // kRevoked: how long the revocation is kept (the token's expiry)
};

// Every shard of this node and, in cluster mode, of every other node. Any shard thread.
void TellEveryDevice(ChatService& service, UserNews news);
// Every shard of this node only: news another node published.
void TellDevicesHere(ChatService& service, UserNews news);
// On each shard: a revoked token's sessions close (SessionTokens::OnRevoked); a profile event
// goes to the user's own sessions and to those that have the user as a contact (share a
// conversation with them).
void DeliverUserNews(SessionHost& sessions, const UserNews& news);

}  // namespace ringcast::chat
