// The chat's HTTP route table and its matcher (chat/api/http_routes.h).
#include "chat/api/http_routes.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <vector>

#include "chat/chat_shard.h"
#include "chat/ops/routes.h"

namespace ringcast::chat {
namespace {

// The families in the order ChatRoutes lists their rows (the order of an Allow header's methods
// where a path's rows come from two families: /api/me's GET and PATCH are the profile family's,
// its DELETE the account's).
constexpr std::span<const HttpRoute> (*kFamilies[])() = {
    TransportRoutes, LoginRoutes, ProfileRoutes, AccountRoutes, SearchRoutes, NotifyRoutes,
    CallRoutes,      GroupRoutes, HistoryRoutes, MessageRoutes, FileRoutes,   OperatorRoutes,
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

// Every family's rows, and each row's pattern cut once (matching a request compares segments,
// never searches): made on first use, read only after.
struct Table {
  std::vector<HttpRoute> rows;
  std::vector<Segments> patterns;
};
const Table& TheTable() {
  static const Table table = [] {
    Table out;
    for (auto family : kFamilies) {
      for (const HttpRoute& row : family()) {
        out.rows.push_back(row);
        out.patterns.push_back(Split(row.pattern));
      }
    }
    return out;
  }();
  return table;
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

std::span<const HttpRoute> ChatRoutes() { return TheTable().rows; }

RouteLookup FindRoute(http::Method method, std::string_view path) {
  RouteLookup lookup;
  const Segments segments = Split(path);
  const Table& table = TheTable();
  for (size_t i = 0; i < table.rows.size(); ++i) {
    if (!Matches(table.patterns[i], segments)) continue;
    const HttpRoute& row = table.rows[i];
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
