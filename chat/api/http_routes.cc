// The chat's HTTP route table and its matcher (chat/api/http_routes.h).
#include "chat/api/http_routes.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <type_traits>

#include "chat/chat_shard.h"
#include "storage/message_kinds.h"

namespace ringcast::chat {
namespace {

using http::Method;
constexpr RouteAccess kBearer = RouteAccess::kBearer;
constexpr RouteAccess kOwn = RouteAccess::kOwn;
constexpr bool kStreamsBody = true;

template <typename Api>
Api& ApiOf(ChatShard& chat);
template <>
HttpApi& ApiOf<HttpApi>(ChatShard& chat) {
  return chat.http_api();
}
template <>
UploadApi& ApiOf<UploadApi>(ChatShard& chat) {
  return chat.uploads();
}
template <>
OpsApi& ApiOf<OpsApi>(ChatShard& chat) {
  return chat.ops_api();
}

template <typename Member>
struct ClassOf;
template <typename Class, typename Function>
struct ClassOf<Function Class::*> {
  using type = Class;
};

// A row's handler: a member of the API class that owns the route, taking what the pattern
// captured, or only the exchange where it captures nothing and checks its caller itself.
template <auto kHandler>
void Call(ChatShard& chat, HttpExchange& exchange, const RouteCall& call) {
  using Api = typename ClassOf<decltype(kHandler)>::type;
  Api& api = ApiOf<Api>(chat);
  if constexpr (std::is_invocable_v<decltype(kHandler), Api&, HttpExchange&, const RouteCall&>) {
    (api.*kHandler)(exchange, call);
  } else {
    (api.*kHandler)(exchange);
  }
}

// Which change a message route makes (http_api_messages.cc): the kind, and whether it takes
// the pin or the reaction away.
struct MessageChangeRow {
  std::string_view kind;
  bool removes;
};
constexpr MessageChangeRow kMessageChanges[] = {
    {storage::kEditKind, false}, {storage::kDeleteKind, true},    {storage::kPinKind, false},
    {storage::kUnpinKind, true}, {storage::kReactionKind, false}, {storage::kReactionKind, true},
};
enum MessageChangeIndex : size_t { kEdit, kDelete, kPin, kUnpin, kReact, kUnreact };

template <MessageChangeIndex kIndex>
void ChangeMessage(ChatShard& chat, HttpExchange& exchange, const RouteCall& call) {
  const MessageChangeRow& row = kMessageChanges[kIndex];
  chat.http_api().ChangeMessage(exchange, call, row.kind, row.removes);
}

template <bool kOn>
void SetMute(ChatShard& chat, HttpExchange& exchange, const RouteCall& call) {
  chat.http_api().SetMute(exchange, call, kOn);
}

template <bool kOn>
void SetBlock(ChatShard& chat, HttpExchange& exchange, const RouteCall& call) {
  chat.http_api().SetBlock(exchange, call, kOn);
}

constexpr HttpRoute kRoutes[] = {
    // Transports (chat/sessions/): each takes its token its own way.
    {Method::kGet, "/ws", kOwn, Call<&HttpApi::HandleWebSocket>},
    {Method::kGet, "/stomp", kOwn, Call<&HttpApi::HandleStomp>},
    {Method::kGet, "/sse", kOwn, Call<&HttpApi::HandleSse>},
    {Method::kGet, "/sse/poll", kOwn, Call<&HttpApi::HandleSsePoll>},
    {Method::kPost, "/sse/send", kOwn, Call<&HttpApi::HandleSsePost>},
    // Accounts and logins.
    {Method::kPost, "/api/register", kOwn, Call<&HttpApi::HandleRegister>},
    {Method::kPost, "/api/login", kOwn, Call<&HttpApi::HandleLogin>},
    {Method::kPost, "/api/token/refresh", kOwn, Call<&HttpApi::HandleRefresh>},
    {Method::kPost, "/api/logout", kBearer, Call<&HttpApi::HandleLogout>},
    {Method::kGet, "/api/me", kBearer, Call<&HttpApi::GetMe>},
    {Method::kPatch, "/api/me", kBearer, Call<&HttpApi::PatchMe>},
    {Method::kDelete, "/api/me", kBearer, Call<&HttpApi::DeleteAccount>},
    {Method::kPost, "/api/me/password", kBearer, Call<&HttpApi::HandlePassword>},
    {Method::kGet, "/api/me/sessions", kBearer, Call<&HttpApi::ListSessions>},
    {Method::kDelete, "/api/me/sessions/{id}", kBearer, Call<&HttpApi::EndSession>},
    {Method::kGet, "/api/blocks", kBearer, Call<&HttpApi::ListBlocks>},
    {Method::kPost, "/api/blocks", kBearer, SetBlock<true>},
    {Method::kDelete, "/api/blocks/{user}", kBearer, SetBlock<false>},
    {Method::kGet, "/api/users", kBearer, Call<&HttpApi::HandleUsers>},
    {Method::kGet, "/api/search", kBearer, Call<&HttpApi::HandleSearch>},
    {Method::kGet, "/api/mentions", kBearer, Call<&HttpApi::HandleMentions>},
    {Method::kGet, "/api/calls/ice-servers", kBearer, Call<&HttpApi::HandleIceServers>},
    {Method::kGet, "/api/push/vapid-public-key", kOwn, Call<&HttpApi::VapidPublicKey>},
    {Method::kPost, "/api/push/subscriptions", kBearer, Call<&HttpApi::AddPushSubscription>},
    {Method::kDelete, "/api/push/subscriptions", kBearer, Call<&HttpApi::RemovePushSubscription>},
    // Conversations and groups.
    {Method::kGet, "/api/conversations", kBearer, Call<&HttpApi::ListConversations>},
    {Method::kPost, "/api/conversations", kBearer, Call<&HttpApi::CreateConversation>},
    {Method::kPatch, "/api/conversations/{id}", kBearer, Call<&HttpApi::ChangeGroupSettings>},
    {Method::kGet, "/api/conversations/{id}/messages", kBearer, Call<&HttpApi::MessagesPage>},
    {Method::kGet, "/api/conversations/{id}/pins", kBearer, Call<&HttpApi::ListPins>},
    {Method::kGet, "/api/conversations/{id}/threads/{root}", kBearer, Call<&HttpApi::ThreadPage>},
    {Method::kPost, "/api/conversations/{id}/members", kBearer, Call<&HttpApi::AddMembers>},
    {Method::kDelete, "/api/conversations/{id}/members/{user}", kBearer,
     Call<&HttpApi::RemoveMember>},
    {Method::kPut, "/api/conversations/{id}/members/{user}/role", kBearer,
     Call<&HttpApi::SetMemberRole>},
    {Method::kPost, "/api/conversations/{id}/transfer", kBearer, Call<&HttpApi::TransferGroup>},
    {Method::kPost, "/api/conversations/{id}/mute", kBearer, SetMute<true>},
    {Method::kDelete, "/api/conversations/{id}/mute", kBearer, SetMute<false>},
    // A message's changes (http_api_messages.cc).
    {Method::kPatch, "/api/conversations/{id}/messages/{seq}", kBearer, ChangeMessage<kEdit>},
    {Method::kDelete, "/api/conversations/{id}/messages/{seq}", kBearer, ChangeMessage<kDelete>},
    {Method::kPut, "/api/conversations/{id}/messages/{seq}/pin", kBearer, ChangeMessage<kPin>},
    {Method::kDelete, "/api/conversations/{id}/messages/{seq}/pin", kBearer, ChangeMessage<kUnpin>},
    {Method::kPut, "/api/conversations/{id}/messages/{seq}/reactions/{emoji}", kBearer,
     ChangeMessage<kReact>},
    {Method::kDelete, "/api/conversations/{id}/messages/{seq}/reactions/{emoji}", kBearer,
     ChangeMessage<kUnreact>},
    // Files (http_api_uploads.cc): an upload takes its token itself (its body streams), a file
    // a signed URL or a token (also in the query, for an <img>).
    {Method::kPost, "/api/uploads", kOwn, Call<&UploadApi::HandleUpload>, kStreamsBody},
    {Method::kGet, "/api/uploads/{id}", kBearer, Call<&UploadApi::HandleRecord>},
    {Method::kGet, "/files/{id}", kOwn, Call<&UploadApi::HandleFile>},
    {Method::kHead, "/files/{id}", kOwn, Call<&UploadApi::HandleFile>},
    {Method::kGet, "/files/{id}/thumb", kOwn, Call<&UploadApi::HandleThumb>},
    {Method::kHead, "/files/{id}/thumb", kOwn, Call<&UploadApi::HandleThumb>},
    // The operator's (ops_api.cc): the admin token.
    {Method::kGet, "/ready", kOwn, Call<&OpsApi::HandleReady>},
    {Method::kHead, "/ready", kOwn, Call<&OpsApi::HandleReady>},
    {Method::kGet, "/api/cluster", kOwn, Call<&OpsApi::HandleCluster>},
    {Method::kHead, "/api/cluster", kOwn, Call<&OpsApi::HandleCluster>},
};

// A path cut at its slashes: "/api/me" is {"api", "me"}, "/" is {""}. A path of more segments
// than any pattern has, or without its leading slash, matches nothing (`none`).
struct Segments {
  static constexpr size_t kMax = 8;
  std::array<std::string_view, kMax> part;
  size_t count = 0;
  bool none = false;
};

Segments Split(std::string_view path) {
  Segments out;
  if (!path.starts_with('/')) {
    out.none = true;
    return out;
  }
  path.remove_prefix(1);
  for (;;) {
    if (out.count == Segments::kMax) {
      out.none = true;
      return out;
    }
    const size_t slash = path.find('/');
    out.part[out.count++] = path.substr(0, slash);
    if (slash == std::string_view::npos) return out;
    path.remove_prefix(slash + 1);
  }
}

bool IsPlaceholder(std::string_view segment) { return segment.starts_with('{'); }

// Each row's pattern, cut once: matching a request compares segments, never searches.
const std::array<Segments, std::size(kRoutes)>& PatternSegments() {
  static const auto segments = [] {
    std::array<Segments, std::size(kRoutes)> out;
    for (size_t i = 0; i < std::size(kRoutes); ++i) out[i] = Split(kRoutes[i].pattern);
    return out;
  }();
  return segments;
}

// Whether `path` has the shape of `pattern`: the same literal segments, and a non-empty segment
// where the pattern has a {placeholder}.
bool Matches(const Segments& pattern, const Segments& path) {
  if (pattern.count != path.count || path.none) return false;
  for (size_t i = 0; i < path.count; ++i) {
    if (IsPlaceholder(pattern.part[i]) ? path.part[i].empty() : pattern.part[i] != path.part[i]) {
      return false;
    }
  }
  return true;
}

// A decimal int64 of at least 1; false for anything else (sign, spaces, overflow).
bool ParseId(std::string_view text, int64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && *out >= 1;
}

// A placeholder that holds a positive id, by its name and the literal segment before it ("" for
// any): {id} is a conversation's after "conversations", and text (an upload's, a login's)
// anywhere else, as proto/PROTOCOL.md writes the routes.
struct IdField {
  std::string_view after;
  std::string_view placeholder;
  int64_t RouteCall::*field;
  std::string_view malformed;  // the 400's reason
};
constexpr IdField kIdFields[] = {
    {"conversations", "{id}", &RouteCall::conv, "conversation id must be a positive integer"},
    {"", "{seq}", &RouteCall::seq, "message seq must be a positive integer"},
    {"", "{user}", &RouteCall::user, "user id must be a positive integer"},
    {"", "{root}", &RouteCall::root, "thread root must be a positive integer (a seq)"},
};

}  // namespace

std::span<const HttpRoute> ChatRoutes() { return kRoutes; }

RouteLookup FindRoute(http::Method method, std::string_view path) {
  RouteLookup lookup;
  const Segments segments = Split(path);
  const auto& patterns = PatternSegments();
  for (size_t i = 0; i < std::size(kRoutes); ++i) {
    if (!Matches(patterns[i], segments)) continue;
    const HttpRoute& row = kRoutes[i];
    if (row.method == method) {
      lookup.route = &row;
      lookup.allow.clear();
      return lookup;
    }
    if (lookup.path_route == nullptr) lookup.path_route = &row;
    lookup.allow.append(lookup.allow.empty() ? "" : ", ").append(http::MethodName(row.method));
  }
  return lookup;
}

std::optional<std::string_view> CaptureRoute(std::string_view pattern, std::string_view path,
                                             RouteCall* call) {
  const Segments want = Split(pattern);
  const Segments got = Split(path);
  for (size_t i = 0; i < std::min(want.count, got.count); ++i) {
    if (!IsPlaceholder(want.part[i])) continue;
    const std::string_view previous = i > 0 ? want.part[i - 1] : std::string_view();
    const IdField* id = nullptr;
    for (const IdField& field : kIdFields) {
      if (field.placeholder == want.part[i] && (field.after.empty() || field.after == previous)) {
        id = &field;
      }
    }
    if (id == nullptr) {
      call->text = got.part[i];
    } else if (!ParseId(got.part[i], &(call->*id->field))) {
      return id->malformed;
    }
  }
  return std::nullopt;
}

bool RouteStreamsBody(const http::Request& request) {
  const HttpRoute* route = FindRoute(request.method, request.path).route;
  return route != nullptr && route->streams_body;
}

bool DispatchChatRoute(ChatShard& chat, HttpExchange& exchange) {
  const http::Request& request = exchange.request();
  const RouteLookup lookup = FindRoute(request.method, request.path);
  const HttpRoute* route = lookup.route;
  if (route == nullptr && lookup.path_route != nullptr) {
    exchange.SetRoute(lookup.path_route->pattern);
    exchange.RespondError(405, "method not allowed", "Allow: " + lookup.allow + "\r\n");
    return true;
  }
  if (route == nullptr) {
    if (request.path.starts_with("/api/")) {
      exchange.SetRoute("/api/other");
    } else if (request.path.starts_with("/sse/")) {
      exchange.SetRoute("/sse/other");
    } else {
      return false;
    }
    exchange.RespondError(404, "no such route");
    return true;
  }
  exchange.SetRoute(route->pattern);
  RouteCall call;
  if (route->access == RouteAccess::kBearer && !chat.http_api().RequireAuth(exchange, &call.auth)) {
    return true;
  }
  if (auto malformed = CaptureRoute(route->pattern, request.path, &call)) {
    exchange.RespondError(400, *malformed);
    return true;
  }
  route->handle(chat, exchange, call);
  return true;
}

}  // namespace ringcast::chat
