#include "notify/push/webpush_sink.h"

#include "core/log.h"
#include "notify/push/http_post.h"
#include "proto/json_writer.h"
#include "storage/await_reply.h"

namespace ringcast::notify {
namespace {

// A VAPID JWT lives 12 hours (RFC 8292 §2: at most 24): long enough for any clock skew between
// us and the push service, short enough that a leaked header is not valid for long.
constexpr int64_t kJwtLifetimeS = 12 * 3600;

// The longest prefix of `text` of at most `max` bytes that does not cut a UTF-8 sequence.
std::string_view Utf8Prefix(std::string_view text, size_t max) {
  if (text.size() <= max) return text;
  size_t end = max;
  while (end > 0 && (static_cast<uint8_t>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

int64_t WallSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string WebPushPayload(const Notification& notification, uint32_t max_preview_bytes) {
  JsonWriter writer;
  writer.BeginObject()
      .Field("type", "notification")
      .Field("id", notification.idempotency_key)
      .Field("conv", notification.conv)
      .Field("group", notification.group);
  if (notification.conv_name) writer.Field("conv_name", *notification.conv_name);
  const std::string_view preview = Utf8Prefix(notification.latest_body, max_preview_bytes);
  writer.Field("count", notification.count)
      .Field("mention", notification.mention)
      .Key("latest")
      .BeginObject()
      .Field("seq", notification.latest_seq)
      .Field("from", notification.latest_sender)
      .Field("from_name", notification.latest_sender_name)
      .Field("kind", notification.latest_kind)
      .Field("body", preview)
      .Field("truncated", preview.size() < notification.latest_body.size())
      .Field("ts", notification.latest_ts)
      .EndObject()
      .EndObject();
  return writer.Take();
}

WebPushSink::WebPushSink(storage::NotificationStore& store, const EcKey& vapid_key,
                         WebPushOptions options)
    : store_(store), vapid_key_(vapid_key), options_(std::move(options)) {
  InitCurl();
}

void WebPushSink::CollectMetrics(MetricSet& out) const {
  out.CounterBy(
      "ringcast_webpush_requests_total",
      "Web Push requests to push services: accepted (2xx), or failed (any other answer, or none)",
      "outcome",
      {{"accepted", double(sent_.load(std::memory_order_relaxed))},
       {"failed", double(failed_.load(std::memory_order_relaxed))}});
  out.Counter("ringcast_webpush_subscriptions_removed_total",
              "Web Push subscriptions deleted after their push service answered 404 or 410",
              double(removed_.load(std::memory_order_relaxed)));
}

Delivery WebPushSink::Deliver(const Notification& notification) {
  storage::Result<std::vector<storage::PushSubscription>> subscriptions =
      storage::AwaitReply<std::vector<storage::PushSubscription>>([&](auto reply) {
        store_.ListPushSubscriptions(notification.recipient, std::move(reply));
      });
  if (!subscriptions.ok()) return Delivery::kRetry;
  if (subscriptions->empty()) return Delivery::kDelivered;

  const std::string payload = WebPushPayload(notification, options_.max_preview_bytes);
  bool sent = false, transient = false;
  for (const storage::PushSubscription& subscription : *subscriptions) {
    switch (Send(subscription, payload, notification.mention, notification.conv)) {
      case Outcome::kSent:
        sent = true;
        break;
      case Outcome::kTransient:
        transient = true;
        break;
      case Outcome::kGone: {
        (void)storage::AwaitReply<bool>([&](auto reply) {
          store_.RemovePushSubscription(subscription.user, subscription.endpoint, std::move(reply));
        });
        removed_.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      case Outcome::kRefused:
        break;
    }
  }
  if (sent) return Delivery::kDelivered;
  return transient ? Delivery::kRetry : Delivery::kGiveUp;
}

WebPushSink::Outcome WebPushSink::Send(const storage::PushSubscription& subscription,
                                       std::string_view payload, bool urgent, int64_t conv) {
  std::optional<std::string> ua_public = Base64UrlDecode(subscription.p256dh);
  std::optional<std::string> auth = Base64UrlDecode(subscription.auth);
  std::optional<std::string> body;
  if (ua_public && auth) body = EncryptPushMessage(payload, *ua_public, *auth);
  std::optional<std::string> authorization = VapidAuthorization(
      vapid_key_, subscription.endpoint, options_.subject, WallSeconds() + kJwtLifetimeS);
  if (!body || !authorization) {
    // The API checked both keys and the URL, so this is a stored row gone bad.
    RC_LOG(kWarn, "webpush: cannot encrypt for user %lld's subscription; skipped",
           static_cast<long long>(subscription.user));
    failed_.fetch_add(1, std::memory_order_relaxed);
    return Outcome::kRefused;
  }
  std::vector<std::string> headers = {
      "Content-Type: application/octet-stream",
      "Content-Encoding: aes128gcm",
      "TTL: " + std::to_string(options_.ttl_s),
      // RFC 8030 §5.3: a mention may wake a device; the rest need not.
      std::string("Urgency: ") + (urgent ? "high" : "normal"),
      // RFC 8030 §5.4: a newer message of the same conversation replaces one still queued at
      // the push service (base64url alphabet, at most 32 characters).
      "Topic: conv" + std::to_string(conv),
      "Authorization: " + *authorization,
  };
  HttpPostResult result = HttpPost(subscription.endpoint, headers, *body, options_.timeout);
  if (result.status >= 200 && result.status < 300) {
    sent_.fetch_add(1, std::memory_order_relaxed);
    return Outcome::kSent;
  }
  failed_.fetch_add(1, std::memory_order_relaxed);
  if (result.status == 404 || result.status == 410) return Outcome::kGone;
  if (result.status == 0 || result.status == 408 || result.status == 429 || result.status >= 500) {
    RC_LOG(kInfo, "webpush: user %lld: %s", static_cast<long long>(subscription.user),
           result.status == 0 ? result.error.c_str()
                              : ("status " + std::to_string(result.status)).c_str());
    return Outcome::kTransient;
  }
  RC_LOG(kWarn, "webpush: user %lld: the push service refused with status %d",
         static_cast<long long>(subscription.user), result.status);
  return Outcome::kRefused;
}

}  // namespace ringcast::notify
