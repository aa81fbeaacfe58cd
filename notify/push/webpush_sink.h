// WebPushSink: a due notification (notify/sink.h) to each of the recipient's browsers, as Web
// Push messages: RFC 8030 delivery (a POST to the subscription's endpoint), RFC 8291 aes128gcm
// payload encryption, RFC 8292 VAPID authentication (notify/README.md, "Web Push").
//
// Runs on the notifier's threads (Deliver blocks on the store and on the network, one request
// after another, each within --push-timeout); holds no mutable state of its own, so several
// threads may call Deliver at once. What each push service answers decides:
//   2xx            delivered to that browser;
//   404, 410       the subscription is gone (RFC 8030 §7.3): deleted from the store;
//   408, 429, 5xx, no answer   a transient failure;
//   other 4xx      that browser will never take it (logged).
// The notification counts as delivered once any browser took it (the others are not offered it
// again: a retry would repeat it on those that did), as retried when none did and one failure
// was transient, as given up when every one refused for good, and as delivered (nothing to do)
// when the recipient has no subscription.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "core/metrics/metric_set.h"
#include "notify/push/webpush_crypto.h"
#include "notify/sink.h"
#include "storage/notification_store.h"

namespace ringcast::notify {

struct WebPushOptions {
  std::string subject = "mailto:ringcast@localhost";  // VAPID sub (RFC 8292 §2.1).
  uint32_t ttl_s = 86400;                    // TTL header: how long a push service keeps it.
  std::chrono::milliseconds timeout{10000};  // Per request.
  uint32_t max_preview_bytes = 512;          // Of the latest message's body.
};

// The decrypted message a browser's service worker receives (JSON; notify/README.md).
std::string WebPushPayload(const Notification& notification, uint32_t max_preview_bytes);

class WebPushSink final : public NotificationSink {
 public:
  // `store` and `vapid_key` outlive the sink.
  WebPushSink(storage::NotificationStore& store, const EcKey& vapid_key, WebPushOptions options);

  std::string_view name() const override { return "webpush"; }
  Delivery Deliver(const Notification& notification) override;

  // Any thread: requests by outcome, subscriptions deleted (docs/metrics.md).
  void CollectMetrics(MetricSet& out) const;

 private:
  enum class Outcome : uint8_t { kSent, kGone, kTransient, kRefused };
  Outcome Send(const storage::PushSubscription& subscription, std::string_view payload, bool urgent,
               int64_t conv);

  storage::NotificationStore& store_;
  const EcKey& vapid_key_;
  const WebPushOptions options_;
  std::atomic<uint64_t> sent_{0}, failed_{0}, removed_{0};
};

}  // namespace ringcast::notify
