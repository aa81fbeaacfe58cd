// WebhookSink: POSTs each notification as JSON to --notify-webhook (http or https, libcurl),
// signed like Stripe's webhooks (notify/README.md, "Webhook", with a receiver's check):
//   Ringcast-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>
// plus Ringcast-Idempotency-Key. A 2xx is delivered; a timeout, a connection failure, 408, 429
// and 5xx are retried (kRetry); any other status is refused for good (kGiveUp).
//
// Owner: the notifier's thread (Deliver blocks up to --notify-webhook-timeout-ms). One curl
// handle, reused (its connection stays open between notifications).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "notify/sink.h"

namespace ringcast::notify {

class WebhookSink final : public NotificationSink {
 public:
  // nullptr with *error set when the URL is not http(s) or curl cannot start.
  static std::unique_ptr<WebhookSink> Create(std::string url, std::string secret,
                                             int64_t timeout_ms, std::string* error);
  ~WebhookSink() override;

  std::string_view name() const override { return "webhook"; }
  Delivery Deliver(const Notification& notification) override;

 private:
  WebhookSink(std::string url, std::string secret, int64_t timeout_ms, void* curl);

  const std::string url_;
  const std::string secret_;
  const int64_t timeout_ms_;
  void* curl_;  // CURL*, kept out of the header.
};

// "t=<unix_seconds>,v1=<hex HMAC-SHA256(secret, t.body)>".
std::string WebhookSignature(std::string_view secret, int64_t unix_seconds, std::string_view body);

}  // namespace ringcast::notify
