// HttpApi's mute and mentions routes (issue 14; proto/PROTOCOL.md): mute or unmute a
// conversation for the caller (POST or DELETE /api/conversations/{id}/mute), and the messages
// that mention the caller (GET /api/mentions), newest first, paged by message id.
#include <charconv>

#include "chat/api/http_api.h"
#include "chat/chat_shard.h"
#include "chat/service.h"
#include "core/runtime/shard.h"
#include "proto/url_path.h"

namespace ringcast::chat {
namespace {

constexpr uint32_t kDefaultMentionPage = 50;
constexpr uint32_t kMaxMentionPage = 200;

bool ParsePositive(std::string_view text, int64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size() && *out > 0;
}

}  // namespace

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

void HttpApi::SetMute(HttpExchange& exchange, const RouteCall& call, bool on) {
  std::optional<int64_t> until;
  if (on) {
    if (auto error = ParseMute(exchange.body(), &until)) return exchange.RespondError(400, *error);
    if (!until) until = storage::kMutedForever;
  }
  DeferredHttp deferred = exchange.Defer();
  service_.store().SetMute(
      call.conv, call.auth.user, until,
      service_.ReplyOn<storage::Denial>(
          shard_.id(), [deferred, until](ChatShard& chat, storage::Result<storage::Denial> result) {
            HttpApi& self = chat.http_api();
            if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
            if (*result == storage::Denial::kNotFound) {
              return self.AnswerError(deferred, 404, "no such conversation");
            }
            if (*result == storage::Denial::kForbidden) {
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

void HttpApi::HandleMentions(HttpExchange& exchange, const RouteCall& call) {
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
  service_.store().ListMentions(
      call.auth.user, before, static_cast<uint32_t>(limit),
      service_.ReplyOn<storage::MentionPage>(
          shard_.id(), [deferred](ChatShard& chat, storage::Result<storage::MentionPage> result) {
            HttpApi& self = chat.http_api();
            if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
            JsonWriter writer;
            writer.BeginObject().Key("mentions").BeginArray();
            for (const storage::Message& message : result->messages) {
              AppendMessage(writer, message);
            }
            writer.EndArray().Field("more", result->more);
            if (result->more) writer.Field("next_before", result->messages.back().id);
            self.Answer(deferred, 200, writer.EndObject().str());
          }));
}

}  // namespace ringcast::chat
