// The chat's HTTP routes by family. Each family's file holds its handlers (free functions of
// the shard's HttpApi) and its rows (chat/api/http_routes.h): the operations' families in
// chat/ops/<family>_ops.cc beside their WebSocket actions, the transports in
// chat/api/transport_routes.cc, files in chat/api/upload_api.cc, the operator's routes in
// chat/api/ops_api.cc. ChatRoutes lists the families in this order.
#pragma once

#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "chat/api/attempt_counter.h"
#include "chat/api/http_api.h"
#include "chat/api/http_routes.h"
#include "chat/chat_shard.h"
#include "core/runtime/shard.h"
#include "proto/json_writer.h"

namespace ringcast::chat {

std::span<const HttpRoute> TransportRoutes();  // /ws, /stomp, /sse, /sse/poll, /sse/send
std::span<const HttpRoute> AccountRoutes();    // register, logout, password, sessions, deletion
std::span<const HttpRoute> LoginRoutes();      // login, token refresh
std::span<const HttpRoute> ProfileRoutes();    // /api/me, user search, blocks
std::span<const HttpRoute> SearchRoutes();     // message search
std::span<const HttpRoute> NotifyRoutes();     // mentions, mute, Web Push subscriptions
std::span<const HttpRoute> CallRoutes();       // ICE servers
std::span<const HttpRoute> GroupRoutes();      // conversations, groups, members
std::span<const HttpRoute> HistoryRoutes();    // pages of messages, pins, a thread's page
std::span<const HttpRoute> MessageRoutes();    // a message's edit, deletion, pin, reactions
std::span<const HttpRoute> FileRoutes();       // uploads and files
std::span<const HttpRoute> OperatorRoutes();   // /ready, /api/cluster

// A row's handler from a family's function of the shard's HttpApi that takes what the pattern
// captured, or only the exchange (a route that captures nothing and checks its own caller).
template <auto kHandler>
void OnApi(ChatShard& chat, HttpExchange& exchange, const RouteCall& call) {
  if constexpr (std::is_invocable_v<decltype(kHandler), HttpApi&, HttpExchange&,
                                    const RouteCall&>) {
    kHandler(chat.http_api(), exchange, call);
  } else {
    (void)call;
    kHandler(chat.http_api(), exchange);
  }
}

// A row's handler from a family's function that also takes `kArguments`, fixed per row: a
// route and its undo (POST and DELETE of a block or a mute) share one function.
template <auto kHandler, auto... kArguments>
void OnApiWith(ChatShard& chat, HttpExchange& exchange, const RouteCall& call) {
  kHandler(chat.http_api(), exchange, call, kArguments...);
}

// The reply of a store call that a request deferred on `api`'s shard waits for: back on that
// shard, a failed call is answered (HttpApi::AnswerStoreFailure); a result goes on as
// then(api, deferred, value). The handlers' store calls answer so, unless a failure needs more
// than its answer (a change to a message: message_routes.cc).
template <typename T, typename Then>
storage::Reply<T> StoreReply(HttpApi& api, DeferredHttp deferred, Then then) {
  auto on_shard = [deferred = std::move(deferred), then = std::move(then)](
                      ChatShard& chat, storage::Result<T> result) mutable {
    HttpApi& self = chat.http_api();
    if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
    then(self, deferred, std::move(*result));
  };
  return api.service().ReplyOn<T>(api.shard().id(), std::move(on_shard));
}

// "<key>":[item, ...] in the object `writer` has open, each item written by
// write(writer, item); and {"<key>":[item, ...]}, the answer of a route that lists.
template <typename Items, typename Write>
JsonWriter& WriteList(JsonWriter& writer, std::string_view key, const Items& items, Write write) {
  writer.Key(key).BeginArray();
  for (const auto& item : items) write(writer, item);
  return writer.EndArray();
}
template <typename Items, typename Write>
std::string ListBody(std::string_view key, const Items& items, Write write) {
  JsonWriter writer;
  WriteList(writer.BeginObject(), key, items, write);
  return writer.EndObject().Take();
}

// What one family gives another.
// The token family an access token's jti names ("<family>.<random>"), which logout revokes;
// "" for a token issued before refresh tokens (login_routes.cc).
std::string FamilyOf(std::string_view jti);
// A login's attempt keys and their rules: the client address, the username from that
// address, the username (login_routes.cc); a password check counts as a login.
std::vector<AttemptCounter::Key> LoginKeys(HttpApi& api, const std::string& username,
                                           const std::string& address);
// The body of register and login, {"username","password"} (ParseCredentials); nullopt after
// answering 400 for a malformed body, or `bad_name_status` with `bad_name` for a username
// outside the rules (ValidUsername) (login_routes.cc).
std::optional<Credentials> ReadCredentials(HttpExchange& exchange, int bad_name_status,
                                           std::string_view bad_name);
// After a committed group change: its system entries go out through the conversation's owner
// (and to the other nodes), then every shard learns the new membership (group_routes.cc).
void AfterGroupChange(HttpApi& api, const storage::MembershipOutcome& outcome,
                      std::vector<int64_t> removed);
// "muted_until" (null, or wall ms; "forever" for kMutedForever) and "unread_mentions" of a
// conversation in GET /api/conversations (notify_routes.cc).
void AppendNotifyState(JsonWriter& writer, const storage::ConversationSummary& summary,
                       int64_t now_ms);
// The fields of a JSON object body that are strings or null: each of `names` present is set (an
// inner nullopt for null); other fields are ignored, as elsewhere in the API. A reason when the
// body is not such an object (profile_routes.cc).
using StringFields = std::vector<std::pair<std::string, std::optional<std::string>>>;
std::optional<std::string> ParseStringFields(std::string_view body,
                                             std::initializer_list<std::string_view> names,
                                             StringFields* out);
// A user as every listing shows them (proto/PROTOCOL.md, "Profiles"): id, username,
// display_name, avatar and avatar_thumb (URLs), status, and deleted for a deleted account; and
// {"<key>":[profile, ...]}, the answer of every route that lists users (profile_routes.cc).
void WriteProfile(JsonWriter& writer, const storage::Profile& profile);
std::string ProfilesBody(std::string_view key, const std::vector<storage::Profile>& profiles);

}  // namespace ringcast::chat
