// SessionHost's part in notifications (issue 14; notify/README.md): the mention event to the
// mentioned member's sessions, and presence answers for the Notifier.
#include "chat/sessions/session_host.h"

namespace ringcast::chat {

void SessionHost::SendToUser(int64_t user, std::string_view json) {
  auto sessions = by_user_.find(user);
  if (sessions == by_user_.end()) return;
  for (Session* session : sessions->second) {
    if (session->phase == Session::Phase::kReady) session->Send(json);
  }
}

std::vector<int64_t> SessionHost::OnlineAmong(const std::vector<int64_t>& users) const {
  std::vector<int64_t> online;
  for (int64_t user : users) {
    auto known = presence_.find(user);
    if (known != presence_.end() && known->second.online) online.push_back(user);
  }
  return online;
}

}  // namespace ringcast::chat
