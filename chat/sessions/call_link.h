// CallLink: how the sessions of one shard reach the holder of a call (calls/call_registry.h),
// wherever it runs: an invite starts at the conversation's owner shard of this node; every
// other request goes where the call's id says (calls/call_mail.h): a shard of this node by
// mail, another node over its Redis channel (ClusterLink::ForwardCallRequest).
//
// Owner: the SessionHost of one shard, on its thread. The holder answers the device itself
// (a CallNote: call_ack, an error, the events).
#pragma once

#include "chat/calls/call_mail.h"

namespace ringcast::chat {

class ChatService;

class CallLink {
 public:
  explicit CallLink(ChatService& service) : service_(service) {}

  // False when no holder can be named: an id that names no shard here, or another node on a
  // single one (the caller answers not_found).
  [[nodiscard]] bool Send(CallRequest request);

 private:
  ChatService& service_;
};

}  // namespace ringcast::chat
