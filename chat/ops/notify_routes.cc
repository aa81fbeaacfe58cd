// The notification family's HTTP routes (proto/PROTOCOL.md, "Mute and mentions", "Web Push"):
//   POST | DELETE /api/conversations/{id}/mute   mute or unmute a conversation for the caller
//   GET    /api/mentions                 the messages that mention the caller, newest first,
//                                        paged by message id
//   GET    /api/push/vapid-public-key    the key a browser subscribes with (applicationServerKey)
//   POST   /api/push/subscriptions       a browser's PushSubscription JSON, stored for the caller
//   DELETE /api/push/subscriptions       {"endpoint":...}: the caller's subscription removed
#include <charconv>

#include "chat/json_body.h"
#include "chat/ops/routes.h"
#include "chat/service.h"
#include "core/runtime/shard.h"
#include "notify/push/webpush_crypto.h"
#include "proto/json_writer.h"
#include "proto/url_path.h"

namespace ringcast::chat {

void AppendNotifyState(JsonWriter& writer, const storage::ConversationSummary& summary,
                       int64_t now_ms) {
  writer.Field("unread_mentions", summary.unread_mentions).Key("muted_until");
  if (!summary.muted_until || *summary.muted_until <= now_ms) {
    writer.Null();  // A mute that has ended is no mute.
  } else if (*summary.muted_until == storage::kMutedForever) {
    writer.String("forever");
  } else {
    writer.Int(*summary.muted_until);
  }
}
namespace {

constexpr uint32_t kDefaultMentionPage = 50;
constexpr uint32_t kMaxMentionPage = 200;

bool ParsePositive(std::string_view text, int64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size() && *out > 0;
}

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
      if (!ReadMember(entry, &name, &inner)) {
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

void SetMute(HttpApi& api, HttpExchange& exchange, const RouteCall& call, bool on) {
  std::optional<int64_t> until;
  if (on) {
    if (auto error = ParseMute(exchange.body(), &until)) return exchange.RespondError(400, *error);
    if (!until) until = storage::kMutedForever;
  }
  DeferredHttp deferred = exchange.Defer();
  api.service().store().SetMute(
      call.conv, call.auth.user, until,
      StoreReply<storage::Denial>(
          api, deferred,
          [until](HttpApi& self, const DeferredHttp& deferred, storage::Denial denial) {
            if (denial == storage::Denial::kNotFound) {
              return self.AnswerError(deferred, 404, "no such conversation");
            }
            if (denial == storage::Denial::kForbidden) {
              return self.AnswerError(deferred, 403, "not a member of this conversation");
            }
            JsonWriter writer;
            writer.BeginObject().Key("muted_until");
            if (!until) {
              writer.Null();
            } else if (*until == storage::kMutedForever) {
              writer.String("forever");
            } else {
              writer.Int(*until);
            }
            self.Answer(deferred, 200, writer.EndObject().str());
          }));
}

void HandleMentions(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  const std::string_view query = exchange.request().query;
  int64_t before = 0;
  if (auto value = http::QueryParam(query, "before"); value && !ParsePositive(*value, &before)) {
    return exchange.RespondError(400, "before must be a positive message id");
  }
  int64_t limit = kDefaultMentionPage;
  if (auto value = http::QueryParam(query, "limit");
      value && (!ParsePositive(*value, &limit) || limit > kMaxMentionPage)) {
    return exchange.RespondError(400, "limit must be 1 to 200");
  }
  DeferredHttp deferred = exchange.Defer();
  api.service().store().ListMentions(
      call.auth.user, before, static_cast<uint32_t>(limit),
      StoreReply<storage::MentionPage>(
          api, deferred,
          [](HttpApi& self, const DeferredHttp& deferred, const storage::MentionPage& page) {
            JsonWriter writer;
            WriteList(writer.BeginObject(), "mentions", page.messages, AppendMessage)
                .Field("more", page.more);
            if (page.more) writer.Field("next_before", page.messages.back().id);
            self.Answer(deferred, 200, writer.EndObject().str());
          }));
}

void VapidPublicKey(HttpApi& api, HttpExchange& exchange) {
  JsonWriter writer;
  writer.BeginObject()
      .Field("public_key", notify::Base64UrlEncode(api.service().vapid_key().PublicRaw()))
      .EndObject();
  exchange.Respond(200, "application/json", writer.str());
}

void RemovePushSubscription(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  BodyFields fields;
  if (auto error = ParseBody(exchange.body(), &fields)) return exchange.RespondError(400, *error);
  if (!fields.endpoint) return exchange.RespondError(400, "missing field \"endpoint\"");
  DeferredHttp deferred = exchange.Defer();
  api.service().store().RemovePushSubscription(
      call.auth.user, std::move(*fields.endpoint),
      StoreReply<bool>(api, deferred, [](HttpApi& self, const DeferredHttp& deferred, bool found) {
        if (!found) return self.AnswerError(deferred, 404, "no such subscription");
        self.shard().AnswerDeferred(deferred, 204, "application/json", "");
      }));
}

void AddPushSubscription(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  BodyFields fields;
  if (auto error = ParseBody(exchange.body(), &fields)) return exchange.RespondError(400, *error);
  if (!fields.endpoint) return exchange.RespondError(400, "missing field \"endpoint\"");
  if (!ValidEndpoint(*fields.endpoint, api.config().push_allow_http)) {
    return exchange.RespondError(400, api.config().push_allow_http
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
  api.service().store().AddPushSubscription(
      std::move(subscription), api.config().push_max_subscriptions,
      StoreReply<bool>(api, deferred,
                       [answer = std::move(answer)](HttpApi& self, const DeferredHttp& deferred,
                                                    bool) { self.Answer(deferred, 201, answer); }));
}

}  // namespace

std::span<const HttpRoute> NotifyRoutes() {
  using http::Method;
  constexpr RouteAccess kBearer = RouteAccess::kBearer;
  static constexpr HttpRoute kRows[] = {
      {Method::kGet, "/api/mentions", kBearer, OnApi<&HandleMentions>},
      {Method::kGet, "/api/push/vapid-public-key", RouteAccess::kOwn, OnApi<&VapidPublicKey>},
      {Method::kPost, "/api/push/subscriptions", kBearer, OnApi<&AddPushSubscription>},
      {Method::kDelete, "/api/push/subscriptions", kBearer, OnApi<&RemovePushSubscription>},
      {Method::kPost, "/api/conversations/{id}/mute", kBearer, OnApiWith<&SetMute, true>},
      {Method::kDelete, "/api/conversations/{id}/mute", kBearer, OnApiWith<&SetMute, false>},
  };
  return kRows;
}

}  // namespace ringcast::chat
