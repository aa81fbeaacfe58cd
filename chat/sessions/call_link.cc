#include "chat/sessions/call_link.h"

#include "chat/chat_shard.h"
#include "chat/cluster/cluster_link.h"
#include "chat/service.h"

namespace ringcast::chat {

bool CallLink::Send(CallRequest request) {
  uint32_t shard = 0;
  if (request.op == CallOp::kInvite) {
    shard = service_.ConversationOwnerShard(request.conv);
  } else {
    auto holder = ParseCallId(request.call);
    if (!holder) return false;
    ClusterLink* cluster = service_.cluster();
    if (!holder->node.empty() && (cluster == nullptr || holder->node != cluster->node_id())) {
      if (cluster == nullptr) return false;
      cluster->ForwardCallRequest(holder->node, request);
      return true;
    }
    if (holder->shard >= service_.shard_count()) return false;
    shard = holder->shard;
  }
  service_.PostOrHold(shard, [request = std::move(request)](ChatShard& self) mutable {
    self.calls().Handle(std::move(request));
  });
  return true;
}

}  // namespace ringcast::chat
