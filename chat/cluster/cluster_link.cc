#include "chat/cluster/cluster_link.h"

#include <algorithm>
#include <charconv>
#include <memory>

#include "chat/calls/call_registry.h"
#include "chat/chat_shard.h"
#include "chat/cluster/cluster_presence.h"
#include "chat/cluster/wire_fields.h"
#include "chat/owners/user_owner.h"
#include "chat/service.h"
#include "core/cluster/rendezvous.h"

namespace ringcast::chat {
namespace {

constexpr std::string_view kConvPrefix = "rc:conv:";
constexpr std::string_view kBroadcast = "rc:all";
constexpr std::string_view kNodePrefix = "rc:node:";

std::string ConvChannel(int64_t conv) { return std::string(kConvPrefix) + std::to_string(conv); }
std::string NodeChannel(std::string_view node) {
  std::string channel(kNodePrefix);
  channel += node;
  return channel;
}

}  // namespace

using cluster_wire::AppendInts;
using cluster_wire::Fields;

ClusterLink::ClusterLink(ChatService& service, cluster::ClusterNode& node)
    : service_(service), node_(node), bus_(node.bus()) {
  node.Route(std::string(kConvPrefix), this);
  node.Route(std::string(kBroadcast), this);
  node.Route(std::string(kNodePrefix), this);
  bus_.Subscribe(kBroadcast);
  bus_.Subscribe(NodeChannel(node.node_id()));
}

void ClusterLink::Follow(int64_t conv) { bus_.Subscribe(ConvChannel(conv)); }
void ClusterLink::Unfollow(int64_t conv) { bus_.Unsubscribe(ConvChannel(conv)); }

std::string ClusterLink::Writer(int64_t conv) const {
  if (!bus_.stats().connected) return {};
  auto live = node_.registry().LiveNodes();
  std::string_view writer = cluster::RendezvousOwner(uint64_t(conv), *live);
  if (writer.empty() || writer == node_.node_id()) return {};
  return std::string(writer);
}

void ClusterLink::ForwardSend(const std::string& writer, uint64_t forward_id,
                              const storage::NewMessage& message) {
  bus_.Publish(NodeChannel(writer), EncodeForward(node_.node_id(), forward_id, message));
}

void ClusterLink::AnswerForward(const std::string& node, uint64_t forward_id, int64_t conv,
                                const storage::Result<storage::AppendOutcome>& result) {
  bus_.Publish(NodeChannel(node), EncodeForwardAnswer(forward_id, conv, result));
}

void ClusterLink::PublishMessage(const storage::Message& message) {
  bus_.Publish(ConvChannel(message.conv), EncodeMessage(message));
}

// "r user delivered read" (-1: not moved)
void ClusterLink::PublishReceipt(int64_t conv, int64_t user, std::optional<int64_t> delivered,
                                 std::optional<int64_t> read) {
  std::string out = "r";
  AppendInts(out, {user, delivered.value_or(-1), read.value_or(-1)});
  bus_.Publish(ConvChannel(conv), out);
}

// "t except_user\n" json
void ClusterLink::PublishTyping(int64_t conv, int64_t except_user, std::string_view json) {
  std::string out = "t";
  AppendInts(out, {except_user});
  out += '\n';
  out += json;
  bus_.Publish(ConvChannel(conv), out);
}

void ClusterLink::PublishMembers(const storage::ConversationState& state,
                                 const std::vector<int64_t>& removed) {
  bus_.Publish(std::string(kBroadcast), EncodeMembers(state, removed));
}

// "R user exp_ms\n" jti
// "R user until_ms\njti" (a revocation) or "U user\njson" (a profile event).
void ClusterLink::PublishUserNews(const UserNews& news) {
  const bool revoked = news.kind == UserNews::Kind::kRevoked;
  std::string out = revoked ? "R" : "U";
  if (revoked) {
    AppendInts(out, {news.user, news.until_ms});
  } else {
    AppendInts(out, {news.user});
  }
  out += '\n';
  out += news.text;
  bus_.Publish(std::string(kBroadcast), out);
}

// "P user online last_online(-1: none) seq"
void ClusterLink::PublishPresence(const PresenceOwner::Change& change) {
  std::string out = "P";
  AppendInts(out, {change.user, change.online ? 1 : 0, change.last_online.value_or(-1),
                   int64_t(change.seq)});
  bus_.Publish(std::string(kBroadcast), out);
}

// "U user\n" json
void ClusterLink::PublishCallNote(const CallNote& note) {
  bus_.Publish(std::string(kBroadcast), EncodeCallNote(note));
}

void ClusterLink::ForwardCallNote(std::string_view node, const CallNote& note) {
  bus_.Publish(NodeChannel(node), EncodeCallNote(note));
}

void ClusterLink::ForwardCallRequest(std::string_view node, CallRequest request) {
  request.node = node_.node_id();
  bus_.Publish(NodeChannel(node), EncodeCallRequest(request));
}

// "X\n" node
void ClusterLink::PublishCallHolderDead(std::string_view node) {
  bus_.Publish(std::string(kBroadcast), "X\n" + std::string(node));
  EndCallsOf(node);
}

void ClusterLink::EndCallsOf(std::string_view node) {
  service_.PostToEveryShard([node = std::string(node)] {
    return [node](ChatShard& self) {
      self.sessions().rings().OnCallHolderDead(node);
      self.calls().OnNodeDead(node);
    };
  });
}

void ClusterLink::OnPublication(std::string_view channel, std::string_view payload) {
  if (channel == kBroadcast) return OnBroadcast(payload);
  if (channel.starts_with(kNodePrefix)) return OnNodeMail(payload);
  int64_t conv = 0;
  std::string_view id = channel.substr(kConvPrefix.size());
  auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), conv);
  if (ec != std::errc() || end != id.data() + id.size() || payload.empty()) return;
  OnConversation(conv, payload);
}

void ClusterLink::OnConversation(int64_t conv, std::string_view payload) {
  switch (payload[0]) {
    case 'm':
    case 'x':
    case 'q': {
      auto message = DecodeMessage(conv, payload);
      if (!message) return;
      Deliver(conv, [message = std::move(*message)](ChatShard& self) mutable {
        self.conversations().OnRemoteMessage(std::move(message));
      });
      return;
    }
    case 'r': {
      Fields fields(payload.substr(1));
      int64_t user = 0, delivered = 0, read = 0;
      if (!fields.Int(&user) || !fields.Int(&delivered) || !fields.Int(&read)) return;
      Deliver(conv, [conv, user, delivered, read](ChatShard& self) {
        self.conversations().OnRemoteReceipt(
            conv, user, delivered >= 0 ? std::optional(delivered) : std::nullopt,
            read >= 0 ? std::optional(read) : std::nullopt);
      });
      return;
    }
    case 't': {
      Fields fields(payload.substr(1));
      int64_t except_user = 0;
      std::string_view json;
      if (!fields.Int(&except_user) || !fields.Rest(&json)) return;
      Deliver(conv, [conv, except_user, json = std::string(json)](ChatShard& self) {
        self.conversations().Publish(conv, 0, json, except_user, /*droppable=*/true);
      });
      return;
    }
    default:
      return;
  }
}

void ClusterLink::ForwardSsePost(std::string_view node, std::string_view session, int64_t user,
                                 std::string_view body) {
  bus_.Publish(NodeChannel(node), EncodeSsePost(session, user, body));
}

void ClusterLink::OnNodeMail(std::string_view payload) {
  if (auto post = DecodeSsePost(payload)) {
    auto where = ParseSseSessionKey(post->session);
    if (!where || where->shard >= service_.shard_count()) return;
    // Refused by a full inbox: lost as a POST on a dropped connection is; the client resends
    // what it has no ack for.
    (void)service_.TryPost(where->shard, [post = std::move(*post)](ChatShard& self) {
      (void)self.sse().Post(post.user, post.session, post.body);
    });
    return;
  }
  if (auto note = DecodeCallNote(payload)) return DeliverCallNote(service_, std::move(*note));
  if (auto request = DecodeCallRequest(payload)) {
    auto holder = ParseCallId(request->call);
    if (!holder || holder->shard >= service_.shard_count()) return;
    service_.PostOrHold(holder->shard, [request = std::move(*request)](ChatShard& self) mutable {
      self.calls().Handle(std::move(request));
    });
    return;
  }
  if (auto send = DecodeForward(payload)) {
    const uint32_t owner = service_.ConversationOwnerShard(send->message.conv);
    // Refused by a full inbox: the forwarding node's timeout settles it, as for a lost one.
    (void)service_.TryPost(owner, [send = std::move(*send)](ChatShard& self) mutable {
      self.conversations().OnForwardedSend(std::move(send.from_node), send.forward_id,
                                           std::move(send.message));
    });
    return;
  }
  if (auto answer = DecodeForwardAnswer(payload)) {
    const uint32_t owner = service_.ConversationOwnerShard(answer->conv);
    (void)service_.TryPost(owner, [answer = std::move(*answer)](ChatShard& self) mutable {
      self.conversations().OnForwardAnswer(answer.forward_id, std::move(answer.result));
    });
  }
}

void ClusterLink::OnBroadcast(std::string_view payload) {
  if (auto note = DecodeCallNote(payload)) return DeliverCallNote(service_, std::move(*note));
  if (payload.starts_with("X\n")) return EndCallsOf(payload.substr(2));
  if (payload.starts_with('M')) {
    auto change = std::make_shared<std::pair<storage::ConversationState, std::vector<int64_t>>>();
    if (!DecodeMembers(payload, &change->first, &change->second)) return;
    // Through the conversation's owner shard, as on the node that made the change
    // (AfterGroupChange): behind the system entries this node has already mailed it, so
    // that a removed member's sessions get the entry that removed them before they leave. (Redis
    // hands this node the entries before the change: both came over one connection, in order.)
    ChatService* service = &service_;
    service_.PostOrHold(
        service_.ConversationOwnerShard(change->first.id), [service, change](ChatShard& owner) {
          // A call of the conversation held on this node is the owner's.
          owner.calls().OnMembersRemoved(change->first.id, change->second);
          service->PostToEveryShard([&change] {
            return [change](ChatShard& self) {
              self.sessions().local_convs().OnMembersChanged(change->first, change->second);
            };
          });
        });
    return;
  }
  if (payload.starts_with('P')) {
    Fields fields(payload.substr(1));
    int64_t user = 0, online = 0, last_online = 0, seq = 0;
    if (!fields.Int(&user) || !fields.Int(&online) || !fields.Int(&last_online) ||
        !fields.Int(&seq)) {
      return;
    }
    BroadcastPresenceChange(
        service_, PresenceOwner::Change{
                      user, online != 0,
                      last_online >= 0 ? std::optional(last_online) : std::nullopt, uint64_t(seq)});
    return;
  }
  if (payload.starts_with('R')) {
    Fields fields(payload.substr(1));
    int64_t user = 0, exp_ms = 0;
    std::string_view jti;
    if (!fields.Int(&user) || !fields.Int(&exp_ms) || !fields.Rest(&jti)) return;
    TellDevicesHere(service_, {.kind = UserNews::Kind::kRevoked,
                               .user = user,
                               .text = std::string(jti),
                               .until_ms = exp_ms});
    return;
  }
  if (payload.starts_with('U')) {
    Fields fields(payload.substr(1));
    int64_t user = 0;
    std::string_view json;
    if (!fields.Int(&user) || !fields.Rest(&json)) return;
    TellDevicesHere(service_,
                    {.kind = UserNews::Kind::kProfile, .user = user, .text = std::string(json)});
  }
}

void ClusterLink::OnMaybeMissed(std::string_view channel) {
  if (channel == kBroadcast) return CatchUp();
  // A forwarded send or its answer lost here is settled by the forwarding node's timeout.
  if (!channel.starts_with(kConvPrefix)) return;
  int64_t conv = 0;
  std::string_view id = channel.substr(kConvPrefix.size());
  auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), conv);
  if (ec != std::errc() || end != id.data() + id.size()) return;
  CheckHead(conv);
}

void ClusterLink::Deliver(int64_t conv, ShardTask task) {
  // Behind a refused delivery, a later one would leave a gap: check first.
  if (unchecked_.contains(conv)) return;
  if (!service_.TryPost(service_.ConversationOwnerShard(conv), std::move(task))) {
    unchecked_.insert(conv);
  }
}

void ClusterLink::CheckHead(int64_t conv) {
  if (service_.TryPost(service_.ConversationOwnerShard(conv),
                       [conv](ChatShard& self) { self.conversations().CheckHead(conv); })) {
    unchecked_.erase(conv);
  } else {
    unchecked_.insert(conv);
  }
}

void ClusterLink::OnTick() {
  for (auto it = unchecked_.begin(); it != unchecked_.end();) {
    const int64_t conv = *it++;  // CheckHead may erase it.
    CheckHead(conv);
  }
}

void ClusterLink::CatchUp() {
  service_.cluster_presence()->Resync();
  service_.store().LoadRevoked(
      service_.clock().WallMs(), [this](storage::Result<std::vector<storage::RevokedToken>> r) {
        if (!r.ok()) return;  // Logged by the store; a token past its revocation still expires.
        auto shared = std::make_shared<const std::vector<storage::RevokedToken>>(std::move(*r));
        service_.PostToEveryShard([&shared] {
          return [shared](ChatShard& self) { self.sessions().tokens().OnRevokedList(*shared); };
        });
      });
}

}  // namespace ringcast::chat
