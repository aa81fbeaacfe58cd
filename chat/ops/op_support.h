// What the operations' actions share (chat/ops/*_ops.cc only): the session's membership check
// and the one way back from the store to the session that asked.
#pragma once

#include <string_view>
#include <utility>

#include "chat/chat_shard.h"
#include "chat/ops/actions.h"
#include "chat/service.h"
#include "chat/sessions/session_host.h"

namespace ringcast::chat::ops {

// Whether the session is in `conv` (its views are its conversations, kept current by membership
// changes); if not, it is answered forbidden, echoing `cid`.
inline bool CheckMember(OpCall call, int64_t conv, std::string_view cid = {}) {
  if (call.session.convs.contains(conv)) return true;
  call.host.SendError(call.session, "forbidden", "not a member of this conversation", cid);
  return false;
}

// The store's answer to an operation, back on the session's shard: then(host, session, result)
// once it comes, if the session is still there. Every store call an action makes is answered
// this way; what goes to a conversation's owner goes through the session's ConversationLink.
template <typename T, typename Then>
storage::Reply<T> ReplyTo(OpCall call, Then then) {
  return call.host.service().ReplyOn<T>(call.host.shard_id(),
                                        [id = call.session.id, then = std::move(then)](
                                            ChatShard& self, storage::Result<T> result) mutable {
                                          SessionHost& host = self.sessions();
                                          if (Session* session = host.FindSession(id))
                                            then(host, *session, std::move(result));
                                        });
}

}  // namespace ringcast::chat::ops
