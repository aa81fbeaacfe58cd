#include "notify/webhook_sink.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <ctime>
#include <mutex>

#include "core/log.h"
#include "notify/notification_json.h"

namespace ringcast::notify {
namespace {

size_t IgnoreBody(char*, size_t size, size_t count, void*) { return size * count; }

}  // namespace

std::string WebhookSignature(std::string_view secret, int64_t unix_seconds, std::string_view body) {
  std::string signed_text = std::to_string(unix_seconds);
  signed_text += '.';
  signed_text.append(body);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), digest,
       &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "t=";
  out += std::to_string(unix_seconds);
  out += ",v1=";
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::unique_ptr<WebhookSink> WebhookSink::Create(std::string url, std::string secret,
                                                 int64_t timeout_ms, std::string* error) {
  if (!url.starts_with("http://") && !url.starts_with("https://")) {
    *error = "--notify-webhook must be an http:// or https:// URL";
    return nullptr;
  }
  if (secret.empty()) {
    *error = "--notify-webhook needs --notify-webhook-secret (or --notify-webhook-secret-file)";
    return nullptr;
  }
  static std::once_flag global;
  std::call_once(global, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    *error = "libcurl could not start";
    return nullptr;
  }
  return std::unique_ptr<WebhookSink>(
      new WebhookSink(std::move(url), std::move(secret), timeout_ms, curl));
}

WebhookSink::WebhookSink(std::string url, std::string secret, int64_t timeout_ms, void* curl)
    : url_(std::move(url)), secret_(std::move(secret)), timeout_ms_(timeout_ms), curl_(curl) {}

WebhookSink::~WebhookSink() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

Delivery WebhookSink::Deliver(const Notification& notification) {
  CURL* curl = static_cast<CURL*>(curl_);
  const std::string body = NotificationJson(notification);
  std::string signature = "Ringcast-Signature: ";
  signature += WebhookSignature(secret_, std::time(nullptr), body);
  std::string key = "Ringcast-Idempotency-Key: ";
  key += notification.idempotency_key;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, signature.c_str());
  headers = curl_slist_append(headers, key.c_str());
  headers = curl_slist_append(headers, "User-Agent: ringcast-notifier");
  // No "Expect: 100-continue" round trip before a body.
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // A thread of a multi-threaded process.
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms_));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &IgnoreBody);
  const CURLcode result = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (result != CURLE_OK) {
    RC_LOG(kWarn, "notify webhook: %s: %s", notification.idempotency_key.c_str(),
           curl_easy_strerror(result));
    return Delivery::kRetry;
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300) return Delivery::kDelivered;
  RC_LOG(kWarn, "notify webhook: %s: HTTP %ld", notification.idempotency_key.c_str(), status);
  if (status == 408 || status == 429 || status >= 500) return Delivery::kRetry;
  return Delivery::kGiveUp;
}

}  // namespace ringcast::notify
