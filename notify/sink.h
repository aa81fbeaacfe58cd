// The seam between "a notification is due" (the Notifier, notify/README.md) and where it goes
// (a webhook, Web Push, AMQP, ...): what a sink is given and what it answers.
//
// Sinks run on the notifier's own threads, never on a shard: a Deliver call may block on the
// network, up to the sink's own timeout. A sink is told each due notification until it answers
// kDelivered or kGiveUp (retries with backoff are the Notifier's, not the sink's), so Deliver
// must be safe to repeat: the idempotency key is the same on every attempt, across restarts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ringcast::notify {

// One conversation's unread messages for one member, collapsed: what a member is told.
struct Notification {
  // The same for every attempt and every process that computes this notification (derived
  // from recipient, conversation and the newest seq it covers): a receiver drops repeats by it.
  std::string idempotency_key;
  int64_t recipient = 0;
  std::string recipient_name;
  int64_t conv = 0;
  std::optional<std::string> conv_name;  // Groups only.
  bool group = false;
  int64_t count = 0;     // Unread messages covered, the latest included.
  bool mention = false;  // At least one of them mentions the recipient.
  // The latest message covered.
  int64_t latest_seq = 0;
  int64_t latest_sender = 0;
  std::string latest_sender_name;
  std::string latest_kind;
  std::string latest_body;
  int64_t latest_ts = 0;  // ms since the epoch.
};

enum class Delivery : uint8_t {
  kDelivered,  // Done: never offered again.
  kRetry,      // A transient failure (timeout, 5xx, connection refused): offer again later.
  kGiveUp,     // Will never succeed (4xx other than 408/429, no destination): dead-lettered.
};

class NotificationSink {
 public:
  virtual ~NotificationSink() = default;
  // For logs and metrics labels: "webhook", "webpush", ...
  virtual std::string_view name() const = 0;
  virtual Delivery Deliver(const Notification& notification) = 0;
};

// Background jobs for operators' own workers (AMQP with --amqp): a routing key and a JSON
// payload, documented in notify/README.md. Publish never blocks its caller; it may drop (and
// count) when its bounded queue is full.
class JobPublisher {
 public:
  virtual ~JobPublisher() = default;
  virtual void Publish(std::string routing_key, std::string json) = 0;
};

}  // namespace ringcast::notify
