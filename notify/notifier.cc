#include "notify/notifier.h"

#include <algorithm>
#include <chrono>

#include "core/log.h"
#include "notify/notification_json.h"
#include "storage/await_reply.h"

namespace ringcast::notify {
namespace {

constexpr std::chrono::milliseconds kStoreWait{30000};

}  // namespace

std::string IdempotencyKey(int64_t user, int64_t conv, int64_t covered_seq) {
  std::string key = "rcn1-";
  key += std::to_string(user);
  key += '-';
  key += std::to_string(conv);
  key += '-';
  key += std::to_string(covered_seq);
  return key;
}

Notification MakeNotification(const storage::DueNotification& due) {
  return Notification{.idempotency_key = IdempotencyKey(due.user, due.conv, due.covered_seq),
                      .recipient = due.user,
                      .recipient_name = due.username,
                      .conv = due.conv,
                      .conv_name = due.conv_name,
                      .group = due.group,
                      .count = due.count,
                      .mention = due.mentions > 0,
                      .latest_seq = due.latest.seq,
                      .latest_sender = due.latest.from,
                      .latest_sender_name = due.latest_sender_name,
                      .latest_kind = due.latest.kind,
                      .latest_body = due.latest.body,
                      .latest_ts = due.latest.ts};
}

Notifier::Notifier(NotifierOptions options, storage::NotificationStore& store,
                   PresenceProbe& presence, NotifierLease* lease, const Clock& clock)
    : options_(options), store_(store), presence_(presence), lease_(lease), clock_(clock) {}

Notifier::~Notifier() { Stop(); }

void Notifier::AddSink(std::unique_ptr<NotificationSink> sink) {
  sinks_.push_back(std::move(sink));
}

void Notifier::Start() {
  thread_.Start("notifier", std::chrono::milliseconds(options_.poll_ms), [this] {
    const bool leader = lease_ == nullptr || lease_->Hold();
    if (leader_.exchange(leader ? 1 : 0) != (leader ? 1 : 0)) {
      RC_LOG(kInfo, "notifier: %s", leader ? "this node notifies now" : "another node notifies");
    }
    if (leader) {
      Poll();
    } else {
      pending_.clear();  // Whoever holds the lease now has its own schedule.
    }
    return true;
  });
}

void Notifier::Stop() { thread_.Stop(); }

void Notifier::Poll() {
  polls_.fetch_add(1, std::memory_order_relaxed);
  auto answer = storage::AwaitReply<std::vector<storage::DueNotification>>(
      [&](auto reply) {
        store_.DueNotifications(clock_.WallMs(), options_.delay_ms, options_.batch,
                                std::move(reply));
      },
      kStoreWait);
  if (!answer || !answer->ok()) {
    poll_failures_.fetch_add(1, std::memory_order_relaxed);
    RC_LOG(kWarn, "notifier: cannot read due notifications: %s",
           answer ? answer->status().ToString().c_str() : "the store did not answer");
    return;
  }
  std::vector<storage::DueNotification>& items = **answer;
  // Retry state only for what is still due: a member who read meanwhile needs nothing more.
  std::unordered_map<std::string, Pending> still;
  for (const storage::DueNotification& item : items) {
    std::string key = IdempotencyKey(item.user, item.conv, item.covered_seq);
    if (auto it = pending_.find(key); it != pending_.end())
      still.emplace(key, std::move(it->second));
  }
  pending_ = std::move(still);

  std::vector<int64_t> users;
  for (const storage::DueNotification& item : items) users.push_back(item.user);
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  std::optional<std::vector<int64_t>> online = presence_.Online(users);
  if (!online) {
    RC_LOG(kWarn, "notifier: presence unknown; retrying at the next poll");
    return;
  }
  std::sort(online->begin(), online->end());
  for (const storage::DueNotification& item : items) {
    if (thread_.stopping()) break;
    Handle(item, std::binary_search(online->begin(), online->end(), item.user));
  }
  pending_count_.store(static_cast<int64_t>(pending_.size()), std::memory_order_relaxed);
}

bool Notifier::Handle(const storage::DueNotification& due, bool online) {
  if (due.count == 0 && due.mentions == 0) {
    // Only changes to earlier messages (edits, deletions): nothing new to tell.
    Skip("changes");
    return MarkNotified(due);
  }
  if (due.muted && due.mentions == 0) {
    Skip("muted");
    return MarkNotified(due);
  }
  if (online) {
    // Delivered to a live connection (or about to be): the client has it; nothing to tell.
    Skip("online");
    return MarkNotified(due);
  }
  const Notification notification = MakeNotification(due);
  auto [it, fresh] = pending_.try_emplace(notification.idempotency_key);
  Pending& pending = it->second;
  const int64_t now = clock_.MonotonicMs();
  if (fresh) {
    pending.attempts.assign(sinks_.size(), 0);
    pending.done.assign(sinks_.size(), false);
    if (jobs_ != nullptr) jobs_->Publish("notification.due", NotificationJson(notification));
  } else if (pending.next_attempt_ms > now) {
    return false;
  }
  bool all_done = true;
  uint32_t most_attempts = 0;
  for (size_t i = 0; i < sinks_.size(); ++i) {
    if (pending.done[i]) continue;
    NotificationSink& sink = *sinks_[i];
    const std::string name(sink.name());
    switch (sink.Deliver(notification)) {
      case Delivery::kDelivered:
        pending.done[i] = true;
        Count(name, "delivered");
        break;
      case Delivery::kGiveUp:
        pending.done[i] = true;
        Count(name, "given_up");
        RC_LOG(kWarn, "notifier: %s refused notification %s for good: dead-lettered", name.c_str(),
               notification.idempotency_key.c_str());
        break;
      case Delivery::kRetry:
        if (++pending.attempts[i] >= options_.max_attempts) {
          pending.done[i] = true;
          Count(name, "dead_letter");
          RC_LOG(kWarn, "notifier: %s failed notification %s %u times: dead-lettered", name.c_str(),
                 notification.idempotency_key.c_str(), pending.attempts[i]);
        } else {
          Count(name, "retry");
          all_done = false;
          most_attempts = std::max(most_attempts, pending.attempts[i]);
        }
        break;
    }
  }
  if (!all_done) {
    const int shift = static_cast<int>(std::min<uint32_t>(most_attempts - 1, 20));
    pending.next_attempt_ms =
        now + std::min(options_.backoff_ms << shift, NotifierOptions::kMaxBackoffMs);
    return false;
  }
  // Delivered first, then the watermark: a crash in between delivers again under the same key.
  const bool marked = MarkNotified(due);
  if (marked) pending_.erase(notification.idempotency_key);
  return marked;
}

bool Notifier::MarkNotified(const storage::DueNotification& due) {
  auto answer = storage::AwaitReply<bool>(
      [&](auto reply) {
        store_.MarkNotified(due.conv, due.user, due.covered_seq, std::move(reply));
      },
      kStoreWait);
  if (answer && answer->ok()) return true;
  RC_LOG(kWarn, "notifier: cannot advance the notified watermark of user %lld in %lld: %s",
         static_cast<long long>(due.user), static_cast<long long>(due.conv),
         answer ? answer->status().ToString().c_str() : "the store did not answer");
  return false;
}

void Notifier::Count(const std::string& sink, const char* outcome) {
  std::lock_guard lock(metrics_mutex_);
  ++outcomes_[{sink, outcome}];
}

void Notifier::Skip(const char* reason) {
  std::lock_guard lock(metrics_mutex_);
  ++skipped_[reason];
}

void Notifier::CollectMetrics(MetricSet& out) const {
  std::lock_guard lock(metrics_mutex_);
  for (const auto& [labels, count] : outcomes_) {
    out.Counter("ringcast_notifications_total",
                "Notification attempts by sink and outcome (delivered, retry, given_up, "
                "dead_letter)",
                double(count), {{"sink", labels.first}, {"outcome", labels.second}});
  }
  for (const auto& [reason, count] : skipped_) {
    out.Counter("ringcast_notifications_skipped_total",
                "Due notifications not sent: the member was online, or the conversation muted "
                "without a mention",
                double(count), {{"reason", reason}});
  }
  out.Counter("ringcast_notifier_polls_total", "Looks for due notifications",
              double(polls_.load(std::memory_order_relaxed)));
  out.Counter("ringcast_notifier_poll_failures_total",
              "Looks for due notifications the store could not answer",
              double(poll_failures_.load(std::memory_order_relaxed)));
  out.Gauge("ringcast_notifier_leader",
            "1 while this node is the one that notifies (always, on a single node)",
            double(leader_.load(std::memory_order_relaxed)));
  out.Gauge("ringcast_notifier_retrying", "Notifications waiting for a retry",
            double(pending_count_.load(std::memory_order_relaxed)));
}

}  // namespace ringcast::notify
