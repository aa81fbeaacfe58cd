#include "chat/sessions/conversation_link.h"

#include <utility>

#include "chat/chat_shard.h"
#include "chat/cluster/cluster_link.h"

namespace ringcast::chat {

uint32_t ConversationLink::Owner(int64_t conv) const {
  return service_.ConversationOwnerShard(conv);
}

void ConversationLink::Join(int64_t conv, uint64_t token, int64_t start_seq) {
  service_.PostOrHold(Owner(conv), [conv, shard = shard_, token, start_seq](ChatShard& owner) {
    owner.conversations().Join(conv, shard, token, start_seq);
  });
}

void ConversationLink::Leave(int64_t conv) {
  service_.PostOrHold(Owner(conv), [conv, shard = shard_](ChatShard& owner) {
    owner.conversations().Leave(conv, shard);
  });
}

bool ConversationLink::Send(ConnId origin, storage::NewMessage message) {
  const uint32_t owner_shard = Owner(message.conv);
  const int64_t received_us = service_.clock().MonotonicUs();
  // Cluster mode: when another node writes the conversation, the owner forwards it there and
  // waits for its answer (docs/cluster.md, "Writers"). When this node does, the send takes the
  // single node's path: no hop through the owner shard before the store.
  if (ClusterLink* cluster = service_.cluster(); cluster != nullptr &&
                                                 service_.config().forward_sends &&
                                                 !cluster->Writer(message.conv).empty()) {
    return service_.Post(
        owner_shard, [origin, message = std::move(message), received_us](ChatShard& owner) mutable {
          owner.conversations().Send(origin, std::move(message), received_us);
        });
  }
  std::string cid = message.cid;
  const int64_t conv = message.conv;
  service_.store().Append(
      std::move(message),
      service_.ReplyOn<storage::AppendOutcome>(
          owner_shard,
          [origin, conv, cid = std::move(cid), received_us](
              ChatShard& owner, storage::Result<storage::AppendOutcome> result) mutable {
            owner.conversations().OnAppended(origin, conv, std::move(cid), received_us,
                                             std::move(result));
          }));
  return true;
}

bool ConversationLink::Watermark(ConnId origin, int64_t conv, int64_t user, bool read,
                                 int64_t seq) {
  return service_.Post(Owner(conv), [origin, conv, user, read, seq](ChatShard& owner) {
    owner.conversations().Watermark(origin, conv, user, read, seq);
  });
}

bool ConversationLink::History(ConnId origin, int64_t conv, int64_t user, int64_t before,
                               int64_t seen, uint32_t limit) {
  return service_.Post(Owner(conv), [origin, conv, user, before, seen, limit](ChatShard& owner) {
    owner.conversations().History(origin, conv, user, before, seen, limit);
  });
}

void ConversationLink::Typing(int64_t conv, int64_t user, bool start) {
  // Refused (the owner is far behind): dropped, as a typing event is for a connection far
  // behind (Delivery::kDroppable); the next one says the same.
  (void)service_.Post(Owner(conv), [conv, user, start](ChatShard& owner) {
    owner.conversations().Typing(conv, user, start);
  });
}

}  // namespace ringcast::chat
