// Notifier: finds the notifications that are due (storage::NotificationStore::DueNotifications,
// from the members' watermarks) and hands each to every sink until it is delivered or
// dead-lettered, then advances the member's notified watermark (notify/README.md: when, the
// guarantee, the cluster lease).
//
// Owner: its own thread ("notifier"), started by ChatService once the shards run and stopped
// before the store. Nothing here runs on a shard: the store answers on its threads (the
// notifier waits for the answer), presence is asked of a shard by mail (PresenceProbe), sinks
// block on the network up to their own timeout. AddSink and SetJobPublisher before Start;
// CollectMetrics from any thread.
//
// Bounded: one poll reads at most `batch` due notifications; the retry state lives only for
// the notifications of the last poll (at most `batch` entries), in memory (a restart starts
// the backoff schedule over; the watermarks say what is still due).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/metrics/metric_set.h"
#include "core/runtime/clock.h"
#include "core/runtime/periodic_thread.h"
#include "notify/sink.h"
#include "storage/notification_store.h"

namespace ringcast::notify {

struct NotifierOptions {
  int64_t delay_ms = 5000;  // --notify-delay: the window, and the wait after commit.
  int64_t poll_ms = 1000;
  uint32_t batch = 256;
  uint32_t max_attempts = 8;  // Per sink; then dead-lettered.
  int64_t backoff_ms = 500;   // First retry; doubles per attempt, up to kMaxBackoffMs.
  static constexpr int64_t kMaxBackoffMs = 60000;
};

// Who of `users` has a live connection anywhere (cluster-wide in cluster mode). Blocking, on the
// notifier's thread; nullopt when it could not tell (then nothing is notified this round).
class PresenceProbe {
 public:
  virtual ~PresenceProbe() = default;
  virtual std::optional<std::vector<int64_t>> Online(const std::vector<int64_t>& users) = 0;
};

// Cluster mode: whether this node is the one that notifies now (notify/redis_lease.h). Called
// before every poll, blocking. Without one, this process always notifies.
class NotifierLease {
 public:
  virtual ~NotifierLease() = default;
  virtual bool Hold() = 0;
};

// The idempotency key of a due notification: the same for the same (recipient, conversation,
// newest seq covered), whichever process computes it.
std::string IdempotencyKey(int64_t user, int64_t conv, int64_t covered_seq);
Notification MakeNotification(const storage::DueNotification& due);

class Notifier {
 public:
  Notifier(NotifierOptions options, storage::NotificationStore& store, PresenceProbe& presence,
           NotifierLease* lease, const Clock& clock);
  ~Notifier();

  void AddSink(std::unique_ptr<NotificationSink> sink);
  // Cluster mode (before Start): poll only while holding `lease`.
  void SetLease(NotifierLease* lease) { lease_ = lease; }
  // Each notification, once, when it first becomes due ("notification.due", README).
  void SetJobPublisher(JobPublisher* jobs) { jobs_ = jobs; }
  void Start();
  // Finishes the notification in hand (a sink call ends within its timeout) and joins.
  void Stop();

  // ringcast_notifications_total{sink,outcome} and the rest (docs/metrics.md).
  void CollectMetrics(MetricSet& out) const;

 private:
  struct Pending {
    std::vector<uint32_t> attempts;  // Per sink.
    std::vector<bool> done;          // Per sink: delivered, given up or dead-lettered.
    int64_t next_attempt_ms = 0;     // Monotonic.
  };

  void Poll();
  // Handles one due notification; false while it waits for a retry.
  bool Handle(const storage::DueNotification& due, bool online);
  bool MarkNotified(const storage::DueNotification& due);
  void Count(const std::string& sink, const char* outcome);
  void Skip(const char* reason);

  const NotifierOptions options_;
  storage::NotificationStore& store_;
  PresenceProbe& presence_;
  NotifierLease* lease_;
  const Clock& clock_;
  std::vector<std::unique_ptr<NotificationSink>> sinks_;
  JobPublisher* jobs_ = nullptr;
  std::unordered_map<std::string, Pending> pending_;  // By idempotency key; the notifier thread.

  PeriodicThread thread_;

  mutable std::mutex metrics_mutex_;
  std::map<std::pair<std::string, std::string>, uint64_t> outcomes_;  // (sink, outcome).
  std::map<std::string, uint64_t> skipped_;                           // By reason.
  std::atomic<uint64_t> polls_{0};
  std::atomic<uint64_t> poll_failures_{0};
  std::atomic<int64_t> leader_{0};
  std::atomic<int64_t> pending_count_{0};
};

}  // namespace ringcast::notify
