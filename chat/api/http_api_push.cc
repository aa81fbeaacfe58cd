// HttpApi's Web Push routes (proto/PROTOCOL.md, "Web Push"; /api/me: http_api_profiles.cc):
//   GET    /api/push/vapid-public-key   the key a browser subscribes with (applicationServerKey)
//   POST   /api/push/subscriptions      a browser's PushSubscription JSON, stored for the caller
//   DELETE /api/push/subscriptions      {"endpoint":...}: the caller's subscription removed
#include "chat/api/http_api.h"
#include "chat/chat_shard.h"
#include "chat/json_body.h"
#include "chat/service.h"
#include "core/runtime/shard.h"
#include "notify/push/webpush_crypto.h"
#include "proto/json_writer.h"

namespace ringcast::chat {
namespace {

namespace ondemand = simdjson::ondemand;

// Push services' endpoints are a few hundred bytes; this bounds what a user can make us store.
constexpr size_t kMaxEndpoint = 2048;

// The fields of a JSON object body this file reads: strings (or null), one level deep, plus
// "keys": {"p256dh", "auth"}. Unknown fields are ignored, as elsewhere in the API.
struct BodyFields {
  std::optional<std::string> endpoint, p256dh, auth;
};

std::optional<std::string> ParseBody(std::string_view body, BodyFields* out) {
  static constexpr std::string_view kFields[] = {"endpoint", "keys"};
  static constexpr std::string_view kKeys[] = {"p256dh", "auth"};
  return ForEachField(body, kFields, [&](int index, ondemand::value value) {
    if (index == 0) return ReadStringOrNull(value, "endpoint", &out->endpoint);
    ondemand::object keys;
    if (value.get_object().get(keys) != simdjson::SUCCESS) {
      return std::optional<std::string>("field \"keys\" must be an object");
    }
    for (auto entry : keys) {
      std::string_view name;
      ondemand::value inner;
      if (entry.unescaped_key().get(name) != simdjson::SUCCESS ||
          entry.value().get(inner) != simdjson::SUCCESS) {
        return std::optional<std::string>("field \"keys\" must be an object");
      }
      const int key = FieldIndex(kKeys, name);
      if (key < 0) continue;
      const std::string field = "keys." + std::string(name);
      if (auto fault = ReadStringOrNull(inner, field, key == 0 ? &out->p256dh : &out->auth)) {
        return fault;
      }
    }
    return std::optional<std::string>();
  });
}

// An endpoint we will POST to: an absolute https URL (http too when allowed) with a host.
bool ValidEndpoint(std::string_view endpoint, bool allow_http) {
  if (endpoint.size() > kMaxEndpoint) return false;
  for (char c : endpoint) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) return false;
  }
  if (!endpoint.starts_with("https://") && !(allow_http && endpoint.starts_with("http://"))) {
    return false;
  }
  return notify::UrlOrigin(endpoint).has_value();
}

}  // namespace

void HttpApi::VapidPublicKey(HttpExchange& exchange) {
  JsonWriter writer;
  writer.BeginObject()
      .Field("public_key", notify::Base64UrlEncode(service_.vapid_key().PublicRaw()))
      .EndObject();
  exchange.Respond(200, "application/json", writer.str());
}

void HttpApi::RemovePushSubscription(HttpExchange& exchange, const RouteCall& call) {
  BodyFields fields;
  if (auto error = ParseBody(exchange.body(), &fields)) return exchange.RespondError(400, *error);
  if (!fields.endpoint) return exchange.RespondError(400, "missing field \"endpoint\"");
  DeferredHttp deferred = exchange.Defer();
  service_.store().RemovePushSubscription(
      call.auth.user, std::move(*fields.endpoint),
      service_.ReplyOn<bool>(shard_.id(), [deferred](ChatShard& chat, auto result) {
        HttpApi& self = chat.http_api();
        if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
        if (!*result) return self.AnswerError(deferred, 404, "no such subscription");
        self.shard_.AnswerDeferred(deferred, 204, "application/json", "");
      }));
}

void HttpApi::AddPushSubscription(HttpExchange& exchange, const RouteCall& call) {
  BodyFields fields;
  if (auto error = ParseBody(exchange.body(), &fields)) return exchange.RespondError(400, *error);
  if (!fields.endpoint) return exchange.RespondError(400, "missing field \"endpoint\"");
  if (!ValidEndpoint(*fields.endpoint, config_.push_allow_http)) {
    return exchange.RespondError(400, config_.push_allow_http
                                          ? "endpoint must be an http(s) URL of at most 2048 bytes"
                                          : "endpoint must be an https URL of at most 2048 bytes");
  }
  // RFC 8291 §3.2: p256dh is an uncompressed P-256 point (on the curve), auth 16 bytes.
  std::optional<std::string> p256dh =
      fields.p256dh ? notify::Base64UrlDecode(*fields.p256dh) : std::nullopt;
  if (!p256dh || !notify::EcKey::FromPublicRaw(*p256dh)) {
    return exchange.RespondError(400, "keys.p256dh must be a base64url P-256 public key");
  }
  std::optional<std::string> secret =
      fields.auth ? notify::Base64UrlDecode(*fields.auth) : std::nullopt;
  if (!secret || secret->size() != notify::kPushAuthBytes) {
    return exchange.RespondError(400, "keys.auth must be 16 bytes, base64url");
  }
  storage::PushSubscription subscription{.user = call.auth.user,
                                         .endpoint = std::move(*fields.endpoint),
                                         .p256dh = notify::Base64UrlEncode(*p256dh),
                                         .auth = notify::Base64UrlEncode(*secret),
                                         .created_at = NowMs()};
  std::string answer =
      JsonWriter().BeginObject().Field("endpoint", subscription.endpoint).EndObject().Take();
  DeferredHttp deferred = exchange.Defer();
  service_.store().AddPushSubscription(
      std::move(subscription), config_.push_max_subscriptions,
      service_.ReplyOn<bool>(shard_.id(),
                             [deferred, answer = std::move(answer)](ChatShard& chat, auto result) {
                               HttpApi& self = chat.http_api();
                               if (!result.ok())
                                 return self.AnswerStoreFailure(deferred, result.status());
                               self.Answer(deferred, 201, answer);
                             }));
}

}  // namespace ringcast::chat
