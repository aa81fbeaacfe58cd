// News for every device of a user (sessions/user_news.h). The profile event (proto/PROTOCOL.md,
// "Profiles"): a user's new display name, avatar or status reaches their own sessions and every
// session that shares a conversation with them (the contacts the presence replica already
// indexes, watchers_), on this shard.
#include "chat/sessions/session_host.h"

namespace ringcast::chat {

void SessionHost::OnUserNews(const UserNews& news) {
  switch (news.kind) {
    case UserNews::Kind::kRevoked:
      return OnRevoked(news.user, news.text, news.until_ms);
    case UserNews::Kind::kProfile:
      return OnProfile(news.user, news.text);
  }
}

void SessionHost::OnProfile(int64_t user, const std::string& json) {
  auto send = [&](const std::vector<Session*>& sessions) {
    for (Session* session : sessions) {
      if (session->phase == Session::Phase::kReady) session->Send(json);
    }
  };
  if (auto own = by_user_.find(user); own != by_user_.end()) send(own->second);
  // A session is never its own user's watcher (Watch skips the session's user).
  if (auto contacts = watchers_.find(user); contacts != watchers_.end()) send(contacts->second);
}

}  // namespace ringcast::chat
