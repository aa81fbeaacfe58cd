// The chat's HTTP route table (chat/api/http_routes.h): every row documented, the matcher's
// answers (a route, its path's other methods, nothing) and what a pattern captures.
#include "chat/api/http_routes.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace ringcast::chat {
namespace {

using http::Method;

// Whether one line of `document` names `pattern` (whole: not a prefix of a longer path) and
// `method`: "GET /api/me", or the tables' "`PUT` / `DELETE /api/...`".
bool Documents(const std::string& document, const std::string& method, const std::string& pattern) {
  std::istringstream lines(document);
  for (std::string line; std::getline(lines, line);) {
    for (size_t at = line.find(pattern); at != std::string::npos; at = line.find(pattern, at + 1)) {
      const size_t end = at + pattern.size();
      const bool whole = end == line.size() ||
                         std::string_view(" `?:),").find(line[end]) != std::string_view::npos;
      const bool after_space_or_tick = at > 0 && (line[at - 1] == ' ' || line[at - 1] == '`');
      if (whole && after_space_or_tick &&
          (line.find(method + " ") != std::string::npos ||
           line.find("`" + method + "`") != std::string::npos)) {
        return true;
      }
    }
  }
  return false;
}

TEST(HttpRoutesTest, EveryRowIsUniqueAndInTheProtocolDocument) {
  std::ifstream file(RINGCAST_SOURCE_DIR "/proto/PROTOCOL.md");
  ASSERT_TRUE(file) << "proto/PROTOCOL.md";
  std::stringstream text;
  text << file.rdbuf();
  const std::string protocol = text.str();
  std::set<std::string> seen;
  for (const HttpRoute& route : ChatRoutes()) {
    const std::string method(http::MethodName(route.method));
    const std::string pattern(route.pattern);
    EXPECT_TRUE(seen.insert(method + " " + pattern).second)
        << "twice: " << method << " " << pattern;
    // HEAD beside a GET is the same route, documented with its GET where not by name.
    EXPECT_TRUE(Documents(protocol, method, pattern) ||
                (route.method == Method::kHead && Documents(protocol, "GET", pattern)))
        << "proto/PROTOCOL.md does not name the route " << method << " " << pattern;
  }
}

TEST(HttpRoutesTest, FindsTheRowOrThePathsOtherMethods) {
  RouteLookup found = FindRoute(Method::kGet, "/api/conversations/5/messages");
  ASSERT_NE(found.route, nullptr);
  EXPECT_EQ(found.route->pattern, "/api/conversations/{id}/messages");
  EXPECT_EQ(found.route->access, RouteAccess::kBearer);

  found = FindRoute(Method::kPut, "/api/conversations");
  EXPECT_EQ(found.route, nullptr);
  ASSERT_NE(found.path_route, nullptr);
  EXPECT_EQ(found.path_route->pattern, "/api/conversations");
  EXPECT_EQ(found.allow, "GET, POST");
  EXPECT_EQ(FindRoute(Method::kPost, "/api/me").allow, "GET, PATCH, DELETE");
  EXPECT_EQ(FindRoute(Method::kPost, "/files/abc/thumb").allow, "GET, HEAD");

  // A malformed id still has the route's shape: the route answers 400, not 404.
  found = FindRoute(Method::kDelete, "/api/conversations/x/members/y");
  ASSERT_NE(found.route, nullptr);
  EXPECT_EQ(found.route->pattern, "/api/conversations/{id}/members/{user}");

  for (const char* path :
       {"/api/conversations/5/nothing", "/api/conversations//messages",
        "/api/conversations/5/messages/", "/api/me/", "/apis", "/wsx", "/files/a/b", "/"}) {
    found = FindRoute(Method::kGet, path);
    EXPECT_EQ(found.route, nullptr) << path;
    EXPECT_EQ(found.path_route, nullptr) << path;
  }
  found = FindRoute(Method::kHead, "/ready");
  ASSERT_NE(found.route, nullptr);
  EXPECT_EQ(found.route->access, RouteAccess::kOwn);
}

// Who may reach a route is its row's column; the rows now live in their families' files, so one
// set to check its own caller by mistake would open a route to anyone. Only these take no bearer
// token from the table: each checks what it needs itself (a STOMP CONNECT's token, ?token=, a
// signed URL, the admin token) or needs none (register, login, the VAPID key, readiness).
TEST(HttpRoutesTest, EveryRouteButTheSelfCheckingOnesNeedsABearerToken) {
  const std::set<std::string> self_checking = {
      "GET /ws",
      "GET /stomp",
      "GET /sse",
      "GET /sse/poll",
      "POST /sse/send",
      "POST /api/register",
      "POST /api/login",
      "POST /api/token/refresh",
      "GET /api/push/vapid-public-key",
      "POST /api/uploads",
      "GET /files/{id}",
      "HEAD /files/{id}",
      "GET /files/{id}/thumb",
      "HEAD /files/{id}/thumb",
      "GET /ready",
      "HEAD /ready",
      "GET /api/cluster",
      "HEAD /api/cluster",
  };
  size_t own = 0;
  for (const HttpRoute& row : ChatRoutes()) {
    const std::string name =
        std::string(http::MethodName(row.method)) + " " + std::string(row.pattern);
    const bool checks_itself = self_checking.contains(name);
    own += checks_itself;
    EXPECT_EQ(row.access, checks_itself ? RouteAccess::kOwn : RouteAccess::kBearer) << name;
  }
  EXPECT_EQ(own, self_checking.size());
}

TEST(HttpRoutesTest, OnlyTheUploadStreamsItsBody) {
  auto streams = [](Method method, std::string_view path) {
    http::Request request;
    request.method = method;
    request.path = path;
    return RouteStreamsBody(request);
  };
  EXPECT_TRUE(streams(Method::kPost, "/api/uploads"));
  EXPECT_FALSE(streams(Method::kGet, "/api/uploads"));
  EXPECT_FALSE(streams(Method::kPost, "/api/uploads/x"));
  EXPECT_FALSE(streams(Method::kPost, "/api/login"));
  EXPECT_FALSE(streams(Method::kPost, "/health"));
}

TEST(HttpRoutesTest, CapturesIdsAndTextAndRefusesMalformedIds) {
  RouteCall call;
  EXPECT_EQ(CaptureRoute("/api/conversations/{id}/messages/{seq}/reactions/{emoji}",
                         "/api/conversations/12/messages/345/reactions/%F0%9F%91%8D", &call),
            std::nullopt);
  EXPECT_EQ(call.conv, 12);
  EXPECT_EQ(call.seq, 345);
  EXPECT_EQ(call.text, "%F0%9F%91%8D");  // decoded by the route, which knows what it holds

  call = {};
  EXPECT_EQ(CaptureRoute("/api/uploads/{id}", "/api/uploads/ab12", &call), std::nullopt);
  EXPECT_EQ(call.text, "ab12");
  EXPECT_EQ(call.conv, 0);

  call = {};
  EXPECT_EQ(CaptureRoute("/api/blocks/{user}", "/api/blocks/9", &call), std::nullopt);
  EXPECT_EQ(call.user, 9);

  for (const char* bad : {"abc", "0", "-1", "+1", "1.5", "%31", "99999999999999999999"}) {
    call = {};
    EXPECT_EQ(
        CaptureRoute("/api/conversations/{id}", std::string("/api/conversations/") + bad, &call),
        "conversation id must be a positive integer")
        << bad;
  }
  EXPECT_EQ(CaptureRoute("/api/conversations/{id}/threads/{root}", "/api/conversations/1/threads/x",
                         &call),
            "thread root must be a positive integer (a seq)");
}

}  // namespace
}  // namespace ringcast::chat
