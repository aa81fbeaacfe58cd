// ClusterLink: the chat's side of cluster mode (docs/cluster.md).
//
// Owner: ChatService builds it before the shards run (when the node has a ClusterNode); then
// any shard thread calls its Publish*/Follow methods, and the bus thread calls the listener
// side, which only decodes and posts mail (ChatService::Post) to the shard concerned:
//   - rc:conv:<id>  messages, receipts and typing of one conversation → its owner shard's
//                   ConversationOwner (which reorders by seq and fills gaps from the store);
//                   followed by a node while some session there is in the conversation;
//   - rc:node:<id>  sends forwarded to the node that writes their conversation, and the
//                   answers back to the forwarding node → the conversation's owner shard
//                   (docs/cluster.md, "Writers"); requests for the calls the node holds → the
//                   holding shard's CallRegistry; POSTs for an SSE or polled session
//                   held there → the session's shard's SseHub; each node follows its own;
//   - rc:all        membership changes, token revocations, presence transitions and what calls
//                   tell devices → every shard's SessionHost; followed by every node. When
//                   publications on it may have been missed, the node reloads the revocations from
//                   the store and who is online from Redis (ClusterPresence::Resync).
// A publication is what the owner needs to take the local path (a message's fields, not its
// JSON: each node encodes once for all its shards and connections).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "chat/calls/call_mail.h"
#include "chat/owners/presence.h"
#include "chat/sessions/user_news.h"
#include "core/cluster/cluster_node.h"
#include "storage/chat_store.h"
#include "storage/unique_function.h"

namespace ringcast::chat {

class ChatService;
class ChatShard;

class ClusterLink final : public cluster::RedisBusListener {
 public:
  // Registers its channels with `node` (before node.Start).
  ClusterLink(ChatService& service, cluster::ClusterNode& node);

  // Any shard thread.
  void Follow(int64_t conv);
  void Unfollow(int64_t conv);
  void PublishMessage(const storage::Message& message);
  void PublishReceipt(int64_t conv, int64_t user, std::optional<int64_t> delivered,
                      std::optional<int64_t> read);
  void PublishTyping(int64_t conv, int64_t except_user, std::string_view json);
  void PublishMembers(const storage::ConversationState& state, const std::vector<int64_t>& removed);
  void PublishPresence(const PresenceOwner::Change& change);
  // News for every device of a user (sessions/user_news.h), for every node's sessions.
  void PublishUserNews(const UserNews& news);
  // Calls (chat/calls/): what a call's holder tells devices, for every node's (rc:all); a request
  // for a call held by `node` (rc:node:<node>).
  void PublishCallNote(const CallNote& note);
  // A note for a device on `node` alone (rc:node:<node>).
  void ForwardCallNote(std::string_view node, const CallNote& note);
  void ForwardCallRequest(std::string_view node, CallRequest request);
  // A POST /sse/send for a session `node` holds (proto/PROTOCOL.md, "Chat transports"): its body
  // as `user` sent it, to the session's shard there (rc:node:<node>).
  void ForwardSsePost(std::string_view node, std::string_view session, int64_t user,
                      std::string_view body);
  // `node` was found dead (by this node): the calls it held end for their devices here and on
  // every other node, and the calls held here and there drop its devices.
  void PublishCallHolderDead(std::string_view node);
  const std::string& node_id() const { return node_.node_id(); }

  // Sends (docs/cluster.md, "Writers"). Any thread: the node that writes `conv`'s messages by
  // rendezvous hashing over the live nodes, or empty when that is this node or nobody can tell
  // (Redis away, no registry answer yet): then this node writes.
  std::string Writer(int64_t conv) const;
  // Any shard thread: a send for `writer` to commit, answered on this node's channel.
  void ForwardSend(const std::string& writer, uint64_t forward_id,
                   const storage::NewMessage& message);
  // Any shard thread: what the store answered to a forwarded send, to the node that forwarded it.
  void AnswerForward(const std::string& node, uint64_t forward_id, int64_t conv,
                     const storage::Result<storage::AppendOutcome>& result);

  // Bus thread.
  void OnPublication(std::string_view channel, std::string_view payload) override;
  void OnMaybeMissed(std::string_view channel) override;
  // Retries the check of what a full shard inbox refused (docs/cluster.md, "When publications
  // may have been missed").
  void OnTick() override;

  // The wire format (cluster_wire.cc), public for its unit test.
  static std::string EncodeMessage(const storage::Message& message);
  static std::optional<storage::Message> DecodeMessage(int64_t conv, std::string_view payload);
  static std::string EncodeMembers(const storage::ConversationState& state,
                                   const std::vector<int64_t>& removed);
  static bool DecodeMembers(std::string_view payload, storage::ConversationState* state,
                            std::vector<int64_t>* removed);
  struct ForwardedSend {
    std::string from_node;
    uint64_t forward_id = 0;
    storage::NewMessage message;
  };
  static std::string EncodeForward(std::string_view from_node, uint64_t forward_id,
                                   const storage::NewMessage& message);
  static std::optional<ForwardedSend> DecodeForward(std::string_view payload);
  struct ForwardAnswer {
    uint64_t forward_id = 0;
    int64_t conv = 0;
    storage::Result<storage::AppendOutcome> result{storage::AppendOutcome{}};
  };
  static std::string EncodeForwardAnswer(uint64_t forward_id, int64_t conv,
                                         const storage::Result<storage::AppendOutcome>& result);
  static std::optional<ForwardAnswer> DecodeForwardAnswer(std::string_view payload);
  static std::string EncodeCallNote(const CallNote& note);
  static std::optional<CallNote> DecodeCallNote(std::string_view payload);
  static std::string EncodeCallRequest(const CallRequest& request);
  static std::optional<CallRequest> DecodeCallRequest(std::string_view payload);
  struct SsePost {
    std::string session;
    int64_t user = 0;
    std::string body;
  };
  static std::string EncodeSsePost(std::string_view session, int64_t user, std::string_view body);
  static std::optional<SsePost> DecodeSsePost(std::string_view payload);

 private:
  void OnConversation(int64_t conv, std::string_view payload);
  void OnBroadcast(std::string_view payload);
  void OnNodeMail(std::string_view payload);
  void EndCallsOf(std::string_view node);
  // After rc:all may have missed publications.
  void CatchUp();
  // Bus thread: `task` to `conv`'s owner shard; refused (its inbox and overflow full), the
  // conversation is owed a CheckHead, which fetches what it missed from the store.
  void Deliver(int64_t conv, storage::UniqueFunction<void(ChatShard&)> task);
  void CheckHead(int64_t conv);

  ChatService& service_;
  cluster::ClusterNode& node_;
  cluster::RedisBusSet& bus_;
  // Bus thread only: conversations whose delivery a full inbox refused, still to be checked.
  // Only "ask the owner to compare with the store" is owed, never the refused publication
  // itself (the store has it): a set of ids, not a DeliveryLag (chat/README.md, "Refused mail").
  std::unordered_set<int64_t> unchecked_;
};

}  // namespace ringcast::chat
