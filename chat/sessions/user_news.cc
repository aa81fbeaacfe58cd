#include "chat/sessions/user_news.h"

#include <memory>

#include "chat/chat_shard.h"
#include "chat/cluster/cluster_link.h"
#include "chat/service.h"

namespace ringcast::chat {

void TellDevicesHere(ChatService& service, UserNews news) {
  auto shared = std::make_shared<const UserNews>(std::move(news));
  service.PostToEveryShard(
      [&] { return [shared](ChatShard& shard) { shard.sessions().OnUserNews(*shared); }; });
}

void TellEveryDevice(ChatService& service, UserNews news) {
  if (ClusterLink* cluster = service.cluster()) cluster->PublishUserNews(news);
  TellDevicesHere(service, std::move(news));
}

}  // namespace ringcast::chat
