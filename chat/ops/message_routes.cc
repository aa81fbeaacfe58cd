// Changes to a message over HTTP (proto/PROTOCOL.md, "Changes to messages"): the WebSocket's
// `edit`, `delete`, `react` and `pin`/`unpin` for a client that holds no connection (a script, a
// bot, an integration):
//   PATCH | DELETE /api/conversations/{id}/messages/{seq}
//   PUT | DELETE   /api/conversations/{id}/messages/{seq}/reactions/{emoji}
//   PUT | DELETE   /api/conversations/{id}/messages/{seq}/pin
#include <openssl/rand.h>

#include <array>

#include "chat/auth/encoding.h"
#include "chat/cluster/cluster_link.h"
#include "chat/ops/routes.h"
#include "chat/owners/conversation_owner.h"
#include "chat/reactions.h"
#include "chat/service.h"
#include "core/runtime/shard.h"
#include "proto/url_path.h"
#include "storage/message_kinds.h"

namespace ringcast::chat {
namespace {

// A request without its own cid gets one no client would choose (a client's retry with its own
// cid is what makes a retry safe: the store answers a cid it has seen with the first outcome).
std::string HttpCid() {
  std::array<uint8_t, 12> random{};
  RAND_bytes(random.data(), int(random.size()));
  return "http." + auth::Base64UrlEncode(std::span<const uint8_t>(random.data(), random.size()));
}

int HttpStatusOf(std::string_view code) {
  if (code == "not_found") return 404;
  if (code == "gone") return 410;
  if (code == "forbidden" || code == "edit_window") return 403;
  return 409;
}

// Appended as a group change's system entry is (HttpApi::AfterGroupChange): by the store, then
// handed to the other nodes and to the conversation's owner shard, whose reorder buffer
// publishes it in seq order; answered once committed, as the WebSocket's ack is.
void ChangeMessage(HttpApi& api, HttpExchange& exchange, const RouteCall& call,
                   std::string_view kind, bool removes) {
  const int64_t conv = call.conv;
  const int64_t caller = call.auth.user;
  std::string emoji;
  if (kind == storage::kReactionKind &&
      (!http::PercentDecode(call.text, &emoji) || !IsOneGrapheme(emoji))) {
    return exchange.RespondError(
        400, "the emoji must be one character (one grapheme cluster) of at most " +
                 std::to_string(kMaxReactionBytes) + " bytes, percent-encoded");
  }
  const bool edit = kind == storage::kEditKind;
  MessageChangeBody change;
  if (auto error = ParseMessageChange(exchange.body(), edit, api.config().max_chat_body, &change)) {
    return exchange.RespondError(400, *error);
  }
  if (const int64_t wait = api.PaceChange(caller)) {
    return exchange.RespondError(429, "more than --msg-rate changes a second, retry later",
                                 "Retry-After: " + std::to_string(wait) + "\r\n");
  }
  std::string cid = change.cid.empty() ? HttpCid() : std::move(change.cid);
  const bool reaction = kind == storage::kReactionKind;
  storage::NewMessage message{.conv = conv,
                              .sender = caller,
                              .cid = cid,
                              .kind = std::string(kind),
                              .body = reaction ? std::move(emoji) : std::move(change.body),
                              .ts = NowMs(),
                              .mentions = std::move(change.mentions),
                              .target = call.seq,
                              .edit_window_ms = int64_t{api.config().edit_window_s} * 1000,
                              .reaction_on = reaction && !removes,
                              .max_reactions = api.config().max_reactions,
                              .max_pins = api.config().max_pins};
  DeferredHttp deferred = exchange.Defer();
  api.service().store().Append(
      std::move(message),
      api.service().ReplyOn<storage::AppendOutcome>(
          api.shard().id(), [deferred, conv, cid = std::move(cid)](ChatShard& chat, auto result) {
            HttpApi& self = chat.http_api();
            if (!result.ok()) {
              // It may have been committed all the same (an answer lost after the commit): the
              // owner compares its head with the store's, as for a WebSocket send.
              self.service().PostOrHold(
                  self.service().ConversationOwnerShard(conv),
                  [conv](ChatShard& owner) { owner.conversations().CheckHead(conv); });
              return self.AnswerStoreFailure(deferred, result.status());
            }
            if (result->denial != storage::Denial::kNone) {
              const auto [code, why] = ConversationOwner::RefusalOf(result->denial);
              return self.AnswerError(deferred, HttpStatusOf(code), why);
            }
            self.service().HandOffCommitted(*result);
            JsonWriter writer;
            const storage::Message& stored = result->message;
            self.Answer(deferred, 200,
                        writer.BeginObject()
                            .Field("cid", cid)
                            .Field("conv", stored.conv)
                            .Field("id", stored.id)
                            .Field("seq", stored.seq)
                            .Field("ts", stored.ts)
                            .EndObject()
                            .str());
          }));
}

// Which change a message route makes: the kind, and whether it takes the pin or the reaction
// away (a deletion, an unpin, a reaction taken back).
template <const std::string_view* kKind, bool kRemoves>
void Change(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  ChangeMessage(api, exchange, call, *kKind, kRemoves);
}

}  // namespace

std::span<const HttpRoute> MessageRoutes() {
  using http::Method;
  constexpr RouteAccess kBearer = RouteAccess::kBearer;
  static constexpr std::string_view kEdit = storage::kEditKind, kDelete = storage::kDeleteKind,
                                    kPin = storage::kPinKind, kUnpin = storage::kUnpinKind,
                                    kReact = storage::kReactionKind;
  static constexpr HttpRoute kRows[] = {
      {Method::kPatch, "/api/conversations/{id}/messages/{seq}", kBearer,
       OnApi<&Change<&kEdit, false>>},
      {Method::kDelete, "/api/conversations/{id}/messages/{seq}", kBearer,
       OnApi<&Change<&kDelete, true>>},
      {Method::kPut, "/api/conversations/{id}/messages/{seq}/pin", kBearer,
       OnApi<&Change<&kPin, false>>},
      {Method::kDelete, "/api/conversations/{id}/messages/{seq}/pin", kBearer,
       OnApi<&Change<&kUnpin, true>>},
      {Method::kPut, "/api/conversations/{id}/messages/{seq}/reactions/{emoji}", kBearer,
       OnApi<&Change<&kReact, false>>},
      {Method::kDelete, "/api/conversations/{id}/messages/{seq}/reactions/{emoji}", kBearer,
       OnApi<&Change<&kReact, true>>},
  };
  return kRows;
}

}  // namespace ringcast::chat
