// Notifications and background jobs (notify/README.md): the notifier's pacing, its sinks
// (webhook, Web Push), the AMQP job publisher and the email digest; the flags that set them
// are in notify_flags.cc.
#pragma once

#include <cstdint>
#include <string>

namespace ringcast {
class FlagRegistry;
}  // namespace ringcast

namespace ringcast::notify {

struct NotifyOptions {
  uint32_t notify_delay_ms = 5000;   // After commit, still unread and undelivered: notify.
  uint32_t notify_poll_ms = 0;       // 0: a quarter of the delay (at least 50 ms, at most 1 s).
  uint32_t notify_batch = 256;       // Due notifications read per poll.
  uint32_t notify_max_attempts = 8;  // Per sink, then dead-lettered.
  uint32_t notify_backoff_ms = 500;  // First retry after this; doubles, up to 60 s.
  std::string notify_webhook;        // http(s) URL; empty: no webhook.
  std::string notify_webhook_secret;
  uint32_t notify_webhook_timeout_ms = 5000;
  std::string amqp_url;  // amqp://user:pass@host:port/vhost; empty: no AMQP.
  std::string amqp_exchange = "ringcast";
  uint32_t amqp_max_queued = 10000;  // Jobs waiting for the broker; past it: dropped (counted).
  bool web_push = false;             // A WebPushSink among the notifier's sinks.
  std::string vapid_subject = "mailto:ringcast@localhost";  // VAPID's sub (RFC 8292 §2.1).
  uint32_t push_max_subscriptions = 10;                     // Per user; the oldest go first.
  uint32_t push_ttl_s = 86400;                              // TTL header.
  uint32_t push_timeout_ms = 10000;                         // Per request to a push service.
  bool push_allow_http = false;  // Endpoints over plain http (tests, private push services).
  std::string smtp_url;          // Empty: no email digests.
  std::string email_from = "ringcast@localhost";
  uint32_t email_digest_after_s = 900;
  uint32_t email_digest_batch = 100;  // Users per store query of the digest mailer.
};

void RegisterNotifyFlags(FlagRegistry& flags, NotifyOptions* options);

}  // namespace ringcast::notify
