// What every device of a user hears (chat/sessions/user_news.h): told, then delivered by each
// shard.
#include "chat/sessions/user_news.h"

#include <memory>
#include <span>

#include "chat/chat_shard.h"
#include "chat/cluster/cluster_link.h"
#include "chat/service.h"
#include "chat/sessions/session_host.h"

namespace ringcast::chat {

void TellDevicesHere(ChatService& service, UserNews news) {
  auto shared = std::make_shared<const UserNews>(std::move(news));
  service.PostToEveryShard(
      [&] { return [shared](ChatShard& shard) { DeliverUserNews(shard.sessions(), *shared); }; });
}

void TellEveryDevice(ChatService& service, UserNews news) {
  if (ClusterLink* cluster = service.cluster()) cluster->PublishUserNews(news);
  TellDevicesHere(service, std::move(news));
}

namespace {

// The profile event (proto/PROTOCOL.md, "Profiles"): a user's new display name, avatar or
// status reaches their own sessions and every session that shares a conversation with them (the
// contacts the presence replica already indexes), on this shard.
void DeliverProfile(SessionHost& sessions, int64_t user, const std::string& json) {
  auto send = [&](std::span<Session* const> to) {
    for (Session* session : to) {
      if (session->phase == Session::Phase::kReady) session->Send(json);
    }
  };
  send(sessions.SessionsOf(user));
  // A session is never its own user's watcher (Watch skips the session's user).
  send(sessions.presence().WatchersOf(user));
}

}  // namespace

void DeliverUserNews(SessionHost& sessions, const UserNews& news) {
  switch (news.kind) {
    case UserNews::Kind::kRevoked:
      return sessions.tokens().OnRevoked(news.user, news.text, news.until_ms);
    case UserNews::Kind::kProfile:
      return DeliverProfile(sessions, news.user, news.text);
  }
}

}  // namespace ringcast::chat
