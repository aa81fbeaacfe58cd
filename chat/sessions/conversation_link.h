// ConversationLink: how the sessions of one shard reach the sequencer of a conversation (its
// owner), wherever that runs. Today it is the shard ChatService::ConversationOwnerShard(id)
// (id % shards) of this process; the SessionHost calls nothing else for a conversation, so
// where a sequencer lives (this shard, another shard, another node) is this class's business
// and the owner's, never the sessions'.
//
// Owner: the SessionHost of one shard, on its thread. Each call costs one mail to the owner
// shard, or one store job whose reply goes straight there (Send). The owner answers the
// shard concerned by mail: LocalConversations::OnJoined and DeliverLocal, SessionHost::SendText and
// FinishAnswer. A refused mail (ChatService::Post: the owner shard is --max-mail-backlog mails
// behind): a join or leave waits on this shard and goes later, in order (PostOrHold); a send,
// receipt or history request returns false, for the caller to answer `unavailable` as for a store
// failure; a typing event is dropped.
#pragma once

#include <cstdint>

#include "core/net/connection.h"
#include "storage/chat_store.h"

namespace ringcast::chat {

class ChatService;

class ConversationLink {
 public:
  ConversationLink(ChatService& service, uint32_t shard) : service_(service), shard_(shard) {}

  // The first session of this shard in `conv`: from the owner's answer (OnJoined(conv, token,
  // last_published)) on, everything the owner publishes in `conv` reaches this shard, in order,
  // behind that answer. `start_seq` is the conversation's last_seq when that session loaded it
  // (ConvView::start_seq()); the owner does not use it yet, cluster mode will (an owner that has
  // not seen the conversation up to there fetches what it missed).
  void Join(int64_t conv, uint64_t token, int64_t start_seq);
  // No session of this shard is in `conv` any more.
  void Leave(int64_t conv);
  // Appends `message` to the store. The commit's reply goes straight to the owner, which
  // publishes in commit order (= seq order) and then acks `origin` (SendText).
  [[nodiscard]] bool Send(ConnId origin, storage::NewMessage message);
  // A delivered (read = false) or read receipt from `user` in `conv`: an error, if any, goes
  // back to `origin` (SendText); a moved watermark is published to the conversation.
  [[nodiscard]] bool Watermark(ConnId origin, int64_t conv, int64_t user, bool read, int64_t seq);
  // A history page for `origin`'s outstanding answer (FinishAnswer); `seen` as the store's
  // History.
  [[nodiscard]] bool History(ConnId origin, int64_t conv, int64_t user, int64_t before,
                             int64_t seen, uint32_t limit);
  // `user` started or stopped typing in `conv`: published to the other members (droppable).
  void Typing(int64_t conv, int64_t user, bool start);

 private:
  uint32_t Owner(int64_t conv) const;

  ChatService& service_;
  const uint32_t shard_;  // The shard whose sessions this link serves.
};

}  // namespace ringcast::chat
