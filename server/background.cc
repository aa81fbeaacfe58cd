#include "server/background.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "chat/api/upload_api.h"
#include "chat/service.h"
#include "chat/upload_sweeper.h"
#include "core/cluster/cluster_node.h"
#include "core/log.h"
#include "core/runtime/shard_set.h"
#include "notify/amqp_publisher.h"
#include "notify/email/digest_mailer.h"
#include "notify/notifier.h"
#include "notify/push/webpush_sink.h"
#include "notify/redis_lease.h"
#include "notify/webhook_sink.h"

namespace ringcast::server {
namespace {

int64_t PollMs(const chat::Config& config) {
  if (config.notify_poll_ms != 0) return config.notify_poll_ms;
  return std::clamp<int64_t>(config.notify_delay_ms / 4, 50, 1000);
}

}  // namespace

std::unique_ptr<Background> Background::Create(const chat::Config& config, chat::ChatService& chat,
                                               std::vector<std::string> swept_files) {
  std::unique_ptr<Background> background(new Background(config));
  if (!background->SetUpNotifier(chat)) return nullptr;
  chat.SetJobPublisher(background->amqp_.get());
  if (!config.smtp_url.empty()) {
    notify::DigestOptions options{.smtp = {.url = config.smtp_url, .from = config.email_from},
                                  .after = std::chrono::seconds(config.email_digest_after_s),
                                  .batch = config.email_digest_batch};
    background->digest_mailer_ = std::make_unique<notify::DigestMailer>(
        chat.store(), std::move(options), background->amqp_.get());
  }
  if (config.upload_orphan_ttl_s > 0) {
    background->upload_sweeper_ = std::make_unique<chat::UploadSweeper>(
        chat.store(),
        chat::UploadSweepOptions{.ttl = std::chrono::seconds(config.upload_orphan_ttl_s),
                                 .files_dir = chat::UploadFilesDir(config),
                                 .temp_dir = chat::UploadTempDir(config),
                                 .recheck = std::move(swept_files),
                                 .objects = chat.objects()});
    // It needs no shard: its first pass may start now.
    background->upload_sweeper_->Start();
  }
  return background;
}

Background::Background(const chat::Config& config) : config_(config) {}

Background::~Background() { Stop(); }

bool Background::SetUpNotifier(chat::ChatService& chat) {
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
        chat.store(), chat.vapid_key(),
        notify::WebPushOptions{.subject = config_.vapid_subject,
                               .ttl_s = config_.push_ttl_s,
                               .timeout = std::chrono::milliseconds(config_.push_timeout_ms)});
    web_push_sink_ = web_push.get();
    sinks.push_back(std::move(web_push));
  }
  // The email digest is no sink of the notifier's: a thread of its own (notify/email).
  if (sinks.empty() && !amqp_) return true;  // Nobody to tell: no notifier at all.
  presence_probe_ = chat.MakePresenceProbe();
  notifier_ = std::make_unique<notify::Notifier>(
      notify::NotifierOptions{.delay_ms = config_.notify_delay_ms,
                              .poll_ms = PollMs(config_),
                              .batch = config_.notify_batch,
                              .max_attempts = config_.notify_max_attempts,
                              .backoff_ms = config_.notify_backoff_ms},
      chat.store(), *presence_probe_, nullptr, chat.clock());
  for (auto& sink : sinks) notifier_->AddSink(std::move(sink));
  notifier_->SetJobPublisher(amqp_.get());
  return true;
}

void Background::Attach(ShardSet& shards) {
  if (amqp_) {
    shards.AddMetricsSource([amqp = amqp_.get()](MetricSet& out) { amqp->CollectMetrics(out); });
  }
  cluster::ClusterNode* node = shards.cluster();
  if (node != nullptr && (notifier_ || digest_mailer_)) {
    lease_ = std::make_unique<notify::RedisLease>(node->bus(), node->node_id());
  }
  if (digest_mailer_) {
    digest_mailer_->SetLease(lease_.get());
    shards.AddMetricsSource(
        [mailer = digest_mailer_.get()](MetricSet& out) { mailer->CollectMetrics(out); });
  }
  if (web_push_sink_) {
    shards.AddMetricsSource([sink = web_push_sink_](MetricSet& out) { sink->CollectMetrics(out); });
  }
  if (!notifier_) return;
  shards.AddMetricsSource(
      [notifier = notifier_.get()](MetricSet& out) { notifier->CollectMetrics(out); });
  if (lease_) notifier_->SetLease(lease_.get());
}

void Background::Start() {
  if (amqp_) amqp_->Start();
  if (notifier_) {
    RC_LOG(kInfo, "notifier: on (delay %u ms, poll %lld ms%s)", config_.notify_delay_ms,
           static_cast<long long>(PollMs(config_)),
           lease_ ? ", one node at a time (Redis lease rc:notifier)" : "");
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
           lease_ ? ", one node at a time (Redis lease rc:notifier)" : "");
    digest_mailer_->Start();
  }
}

void Background::Stop() {
  if (digest_mailer_) digest_mailer_->Stop();  // It uses the publisher.
  if (upload_sweeper_) upload_sweeper_->Stop();
  if (notifier_) notifier_->Stop();
  if (amqp_) amqp_->Stop();
}

}  // namespace ringcast::server
