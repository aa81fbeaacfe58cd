// HttpApi's user search, GET /api/users?q=PREFIX[&limit=N] (proto/PROTOCOL.md): how a client
// finds someone to start a conversation with, by the start of their username.
#include <charconv>

#include "chat/chat_shard.h"
#include "chat/http_api.h"
#include "chat/service.h"
#include "core/runtime/shard.h"
#include "proto/url_path.h"

namespace ringcast::chat {
namespace {

constexpr uint32_t kDefaultUserSearchLimit = 20;
constexpr uint32_t kMaxUserSearchLimit = 50;

}  // namespace

void HttpApi::HandleUsers(HttpExchange& exchange) {
  Authenticated auth;
  if (!RequireAuth(exchange, &auth)) return;
  const std::string_view query = exchange.request().query;
  const std::optional<std::string_view> q = http::QueryParam(query, "q");
  if (!q) return exchange.RespondError(400, "missing q (the start of a username)");
  // Decoded, though a username needs no escape: a client's URL encoder may escape anyway.
  std::string prefix;
  if (!http::PercentDecode(*q, &prefix) || !ValidUsername(prefix)) {
    return exchange.RespondError(400, "q must be 1 to 32 of A-Z a-z 0-9 _ . -");
  }
  uint32_t limit = kDefaultUserSearchLimit;
  if (const std::optional<std::string_view> value = http::QueryParam(query, "limit")) {
    auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), limit);
    if (ec != std::errc() || end != value->data() + value->size() || limit < 1 ||
        limit > kMaxUserSearchLimit) {
      return exchange.RespondError(400, "limit must be 1 to 50");
    }
  }
  DeferredHttp deferred = exchange.Defer();
  service_.store().SearchUsers(
      std::move(prefix), limit,
      service_.ReplyOn<std::vector<storage::UserMatch>>(shard_.id(), [deferred](ChatShard& chat,
                                                                                auto result) {
        HttpApi& self = chat.http_api();
        if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
        JsonWriter writer;
        writer.BeginObject().Key("users").BeginArray();
        for (const storage::UserMatch& user : *result) {
          writer.BeginObject().Field("id", user.id).Field("username", user.username).EndObject();
        }
        self.Answer(deferred, 200, writer.EndArray().EndObject().str());
      }));
}

}  // namespace ringcast::chat
