// The chat's HTTP routes (proto/PROTOCOL.md): one row per method and path pattern, and the one
// place where a request's path is matched. A row names who checks the caller (the table, for a
// bearer token; or the handler itself: a token in the query, a signed URL, a STOMP CONNECT, or
// no caller at all), and its pattern is also the route's label in the metrics and access log.
//
// The table answers what is common to every route, in one order: 404 for a path under /api/ or
// /sse/ that no pattern has, 405 (with Allow) for a method that the path's patterns do not take,
// 401 for a bearer route without a valid token, 400 for a malformed id in the path; and then
// calls the row's handler on its shard's thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/net/http_exchange.h"

namespace ringcast::chat {

class ChatShard;

// A verified access token (HttpApi::VerifyToken).
struct Authenticated {
  int64_t user = 0;
  std::string jti;
  int64_t exp = 0;
};

// What a route's pattern captured from the path, and the caller of a bearer route.
struct RouteCall {
  Authenticated auth;  // RouteAccess::kBearer: the caller; empty otherwise
  int64_t conv = 0;    // {id} of /api/conversations/{id}
  int64_t seq = 0;     // {seq}
  int64_t user = 0;    // {user}
  int64_t root = 0;    // {root}
  // {emoji} (percent-encoded, as sent), or an upload's or a login's {id}: a view of the path.
  std::string_view text;
};

enum class RouteAccess : uint8_t {
  kBearer,  // the table verifies Authorization: Bearer before the handler runs
  kOwn,     // the handler checks what it needs, or nothing is needed (login, register)
};

struct HttpRoute {
  http::Method method;
  // Literal segments and placeholders as proto/PROTOCOL.md writes the route: a conversation's
  // {id}, {seq}, {user}, {root}; and text: {emoji}, an upload's or a login's {id}.
  std::string_view pattern;
  RouteAccess access;
  void (*handle)(ChatShard& chat, HttpExchange& exchange, const RouteCall& call);
  // The handler takes the body as it arrives (Application::StreamsBody), not whole.
  bool streams_body = false;
};

// Every row, in the order the Allow header lists a path's methods.
std::span<const HttpRoute> ChatRoutes();

// The row for `method` on `path`; when there is none but the path has rows, the first of them
// (its label) and their methods for an Allow header ("GET, POST").
struct RouteLookup {
  const HttpRoute* route = nullptr;
  const HttpRoute* path_route = nullptr;
  std::string allow;
};
RouteLookup FindRoute(http::Method method, std::string_view path);
// Fills `call` from what `pattern` captures of `path` (which has its shape); the reason of a 400
// when an id is malformed (a well-formed id may still name nothing: the handler's 404).
std::optional<std::string_view> CaptureRoute(std::string_view pattern, std::string_view path,
                                             RouteCall* call);

// Whether the request's route streams its body (asked before the body arrives).
bool RouteStreamsBody(const http::Request& request);

// Answers `exchange` by the table when its path is the chat's (a row's pattern, or anything
// under /api/ or /sse/); false, having done nothing, for a path of the shard's other routes.
bool DispatchChatRoute(ChatShard& chat, HttpExchange& exchange);

}  // namespace ringcast::chat
