// ChatService's side of the notifications (notify/README.md; server/background.h builds the
// notifier, its sinks and the publisher): the Notifier's presence probe (a shard's presence
// replica, asked by mail) and the jobs of each committed message.
#include <condition_variable>
#include <mutex>

#include "chat/chat_shard.h"
#include "chat/cluster/cluster_link.h"
#include "chat/protocol.h"
#include "chat/service.h"
#include "notify/notification_json.h"
#include "notify/notifier.h"

namespace ringcast::chat {
namespace {

// Asks shard 0's presence replica (every shard has every online user: ContactPresence,
// cluster-wide in cluster mode) and waits for the answer on the notifier's thread.
class ShardPresenceProbe final : public notify::PresenceProbe {
 public:
  explicit ShardPresenceProbe(ChatService& service) : service_(service) {}

  std::optional<std::vector<int64_t>> Online(const std::vector<int64_t>& users) override {
    if (users.empty()) return std::vector<int64_t>{};
    struct Answer {
      std::mutex mutex;
      std::condition_variable ready;
      std::optional<std::vector<int64_t>> online;
    };
    auto answer = std::make_shared<Answer>();
    service_.PostOrHold(0, [answer, users](ChatShard& shard) {
      std::vector<int64_t> online = shard.sessions().presence().OnlineAmong(users);
      std::lock_guard lock(answer->mutex);
      answer->online = std::move(online);
      answer->ready.notify_all();
    });
    std::unique_lock lock(answer->mutex);
    answer->ready.wait_for(lock, std::chrono::seconds(2),
                           [&] { return answer->online.has_value(); });
    return std::move(answer->online);
  }

 private:
  ChatService& service_;
};

}  // namespace

std::unique_ptr<notify::PresenceProbe> ChatService::MakePresenceProbe() {
  return std::make_unique<ShardPresenceProbe>(*this);
}

void ChatService::HandOffCommitted(const storage::AppendOutcome& outcome) {
  const storage::Message& message = outcome.message;
  // Before the caller's answer, not when the owner shard gets it: a read right behind the
  // answer must not come from a replica that lacks it.
  store_->NoteCommitted(message.conv, message.seq);
  // A duplicate is handed on again, in case its first hand-off never happened (its receivers
  // drop what they have); its mention events and jobs went out the first time.
  if (ClusterLink* cluster = cluster_.get()) cluster->PublishMessage(message);
  if (!outcome.duplicate) AfterCommit(message);
  PostOrHold(ConversationOwnerShard(message.conv),
             [message](ChatShard& chat) { chat.conversations().OnRemoteMessage(message); });
}

void ChatService::AfterCommit(const storage::Message& message) {
  if (jobs_ == nullptr) return;
  jobs_->Publish("message.committed", notify::MessageJobJson(message));
  for (int64_t user : message.mentions) {
    jobs_->Publish("mention", notify::MentionJobJson(user, message));
  }
}

}  // namespace ringcast::chat
