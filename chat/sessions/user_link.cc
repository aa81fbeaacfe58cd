#include "chat/sessions/user_link.h"

#include "chat/chat_shard.h"

namespace ringcast::chat {

void UserLink::Attach(int64_t user, ConnId conn) {
  service_.PostOrHold(service_.UserOwnerShard(user),
                      [user, conn](ChatShard& owner) { owner.users().Attach(user, conn); });
}

void UserLink::Detach(int64_t user, ConnId conn) {
  service_.PostOrHold(service_.UserOwnerShard(user),
                      [user, conn](ChatShard& owner) { owner.users().Detach(user, conn); });
}

}  // namespace ringcast::chat
