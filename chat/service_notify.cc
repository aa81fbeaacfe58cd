// ChatService's notifications and background jobs (notify/README.md): which sinks the flags
// ask for, the Notifier's presence probe (a shard's presence replica, asked by mail), the
// cluster lease, and the jobs and mention events of each committed message.
#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>

#include "chat/chat_shard.h"
#include "chat/protocol.h"
#include "chat/service.h"
#include "core/cluster/cluster_node.h"
#include "core/log.h"
#include "core/runtime/shard_set.h"
#include "notify/amqp_publisher.h"
#include "notify/email/digest_mailer.h"
#include "notify/notification_json.h"
#include "notify/notifier.h"
#include "notify/push/webpush_sink.h"
#include "notify/redis_lease.h"
#include "notify/webhook_sink.h"

namespace ringcast::chat {
namespace {

// Asks shard 0's presence replica (every shard has every online user: SessionHost::presence_,
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
      std::vector<int64_t> online = shard.sessions().OnlineAmong(users);
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

int64_t PollMs(const Config& config) {
  if (config.notify_poll_ms != 0) return config.notify_poll_ms;
  return std::clamp<int64_t>(config.notify_delay_ms / 4, 50, 1000);
}

}  // namespace

bool ChatService::SetUpNotifications() {
  std::vector<std::unique_ptr<notify::NotificationSink>> sinks;
  std::string error;
  if (!config_.notify_webhook.empty()) {
    auto webhook =
        notify::WebhookSink::Create(config_.notify_webhook, config_.notify_webhook_secret,
                                    config_.notify_webhook_timeout_ms, &error);
    if (!webhook) {
      std::fprintf(stderr, "ringcast: %s\n", error.c_str());
      return false;
    }
    sinks.push_back(std::move(webhook));
  }
  if (!config_.amqp_url.empty()) {
    amqp_ = notify::AmqpPublisher::Create(config_.amqp_url, config_.amqp_exchange,
                                          config_.amqp_max_queued, &error);
    if (!amqp_) {
      std::fprintf(stderr, "ringcast: %s\n", error.c_str());
      return false;
    }
  }
  if (config_.web_push) {
    auto web_push = std::make_unique<notify::WebPushSink>(
        *store_, *vapid_key_,
        notify::WebPushOptions{.subject = config_.vapid_subject,
                               .ttl_s = config_.push_ttl_s,
                               .timeout = std::chrono::milliseconds(config_.push_timeout_ms)});
    web_push_sink_ = web_push.get();
    sinks.push_back(std::move(web_push));
  }
  // The email digest is no sink of the notifier's: a thread of its own (notify/email, Start).
  if (sinks.empty() && !amqp_) return true;  // Nobody to tell: no notifier at all.
  presence_probe_ = std::make_unique<ShardPresenceProbe>(*this);
  notifier_ = std::make_unique<notify::Notifier>(
      notify::NotifierOptions{.delay_ms = config_.notify_delay_ms,
                              .poll_ms = PollMs(config_),
                              .batch = config_.notify_batch,
                              .max_attempts = config_.notify_max_attempts,
                              .backoff_ms = config_.notify_backoff_ms},
      *store_, *presence_probe_, nullptr, clock());
  for (auto& sink : sinks) notifier_->AddSink(std::move(sink));
  notifier_->SetJobPublisher(amqp_.get());
  return true;
}

void ChatService::AttachNotifications(ShardSet& shards) {
  if (amqp_) {
    shards.AddMetricsSource([amqp = amqp_.get()](MetricSet& out) { amqp->CollectMetrics(out); });
  }
  // One lease for the notifier and the digest mailer: one node notifies and mails at a time.
  cluster::ClusterNode* node = shards.cluster();
  if (node != nullptr && (notifier_ || digest_mailer_)) {
    notifier_lease_ = std::make_unique<notify::RedisLease>(node->bus(), node->node_id());
  }
  if (digest_mailer_) {
    digest_mailer_->SetLease(notifier_lease_.get());
    shards.AddMetricsSource(
        [mailer = digest_mailer_.get()](MetricSet& out) { mailer->CollectMetrics(out); });
  }
  if (web_push_sink_) {
    shards.AddMetricsSource([sink = web_push_sink_](MetricSet& out) { sink->CollectMetrics(out); });
  }
  if (!notifier_) return;
  shards.AddMetricsSource(
      [notifier = notifier_.get()](MetricSet& out) { notifier->CollectMetrics(out); });
  if (notifier_lease_) notifier_->SetLease(notifier_lease_.get());
}

void ChatService::StartNotifications() {
  if (amqp_) amqp_->Start();
  if (notifier_) {
    RC_LOG(kInfo, "notifier: on (delay %u ms, poll %lld ms%s)", config_.notify_delay_ms,
           static_cast<long long>(PollMs(config_)),
           notifier_lease_ ? ", one node at a time (Redis lease rc:notifier)" : "");
    // A member within their grace period counts as online (notify/README.md): with a shorter
    // delay, a member who left just before a message may be taken for one who received it.
    // (With no grace a member goes offline at once: nothing to wait for.)
    if (config_.presence_grace_s > 0 &&
        int64_t{config_.notify_delay_ms} < int64_t{config_.presence_grace_s} * 1000 + 1000) {
      RC_LOG(kWarn,
             "notifier: --notify-delay %u ms is shorter than --presence-grace + 1 s: a member "
             "who left less than that before a message may not be notified of it",
             config_.notify_delay_ms);
    }
    notifier_->Start();
  }
  if (digest_mailer_) {
    RC_LOG(kInfo, "email digests: after %u s unread, from %s%s", config_.email_digest_after_s,
           config_.email_from.c_str(),
           notifier_lease_ ? ", one node at a time (Redis lease rc:notifier)" : "");
    digest_mailer_->Start();
  }
}

void ChatService::StopNotifications() {
  if (notifier_) notifier_->Stop();
  if (amqp_) amqp_->Stop();
}

notify::JobPublisher* ChatService::jobs() { return amqp_.get(); }

void ChatService::AfterCommit(const storage::Message& message) {
  if (amqp_) {
    amqp_->Publish("message.committed", notify::MessageJobJson(message));
    for (int64_t user : message.mentions) {
      amqp_->Publish("mention", notify::MentionJobJson(user, message));
    }
  }
}

}  // namespace ringcast::chat
