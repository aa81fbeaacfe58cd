#include "proto/http_parser.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace ringcast::http {
namespace {

using namespace std::string_view_literals;

constexpr std::string_view kBrowserUpgrade =
    "GET /ws?room=lobby&user=42 HTTP/1.1\r\n"
    "Host: example.com:8080\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\r\n"
    "Upgrade: websocket\r\n"
    "Origin: https://example.com\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Cookie: session=abc; theme=dark\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

// Parses `input` from an exactly sized heap copy, so ASan catches any read past its end.
ParseResult ParseExact(std::string_view input, Request* out, const Limits& limits = {}) {
  auto copy = std::make_unique<char[]>(input.size() + 1);
  std::memcpy(copy.get(), input.data(), input.size());
  ParseResult r = ParseRequest(std::string_view(copy.get(), input.size()), limits, out);
  // Views must not outlive the copy: re-point them at `input` for the caller.
  auto rebase = [&](std::string_view& v) {
    if (v.data() != nullptr) v = std::string_view(input.data() + (v.data() - copy.get()), v.size());
  };
  rebase(out->method_text);
  rebase(out->target);
  rebase(out->path);
  rebase(out->query);
  for (size_t i = 0; i < out->header_count; ++i) {
    rebase(out->headers[i].name);
    rebase(out->headers[i].value);
  }
  return r;
}

ParseResult Parse(std::string_view input, Request* out, const Limits& limits = {}) {
  return ParseExact(input, out, limits);
}

void ExpectError(std::string_view input, int status, const Limits& limits = {}) {
  Request req;
  ParseResult r = Parse(input, &req, limits);
  EXPECT_EQ(r.status, Status::kError) << input;
  EXPECT_EQ(r.error_status, status) << input;
  EXPECT_FALSE(r.error_reason.empty());
}

TEST(HttpParserTest, BrowserUpgradeRequest) {
  Request req;
  ParseResult r = Parse(kBrowserUpgrade, &req);
  ASSERT_EQ(r.status, Status::kOk);
  EXPECT_EQ(r.consumed, kBrowserUpgrade.size());
  EXPECT_EQ(req.method, Method::kGet);
  EXPECT_EQ(req.method_text, "GET");
  EXPECT_EQ(req.target, "/ws?room=lobby&user=42");
  EXPECT_EQ(req.path, "/ws");
  EXPECT_EQ(req.query, "room=lobby&user=42");
  EXPECT_EQ(req.version_minor, 1);
  EXPECT_EQ(req.header_count, 13u);
  EXPECT_EQ(req.Find("host"), "example.com:8080");
  EXPECT_EQ(req.Find("SEC-WEBSOCKET-KEY"), "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(req.Find("Connection"), "keep-alive, Upgrade");
  EXPECT_EQ(req.Find("x-missing").data(), nullptr);
  EXPECT_EQ(req.content_length, 0u);
  EXPECT_TRUE(req.keep_alive);
}

TEST(HttpParserTest, TrimsValueWhitespaceAndKeepsEmptyValues) {
  Request req;
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nHost: h\r\nA:   x y \t\r\nB:\r\nC: \t \r\n\r\n", &req).status,
            Status::kOk);
  EXPECT_EQ(req.Find("a"), "x y");
  EXPECT_EQ(req.Find("b"), "");
  EXPECT_NE(req.Find("b").data(), nullptr);  // Present but empty differs from absent.
  EXPECT_EQ(req.Find("c"), "");
}

TEST(HttpParserTest, QueryStrings) {
  Request req;
  ASSERT_EQ(Parse("GET /p? HTTP/1.1\r\nHost: h\r\n\r\n", &req).status, Status::kOk);
  EXPECT_EQ(req.path, "/p");
  EXPECT_EQ(req.query, "");
  ASSERT_EQ(Parse("GET /p HTTP/1.1\r\nHost: h\r\n\r\n", &req).status, Status::kOk);
  EXPECT_EQ(req.path, "/p");
  EXPECT_TRUE(req.query.empty());
  ASSERT_EQ(Parse("GET /a/b?x=1?y=2 HTTP/1.1\r\nHost: h\r\n\r\n", &req).status, Status::kOk);
  EXPECT_EQ(req.path, "/a/b");
  EXPECT_EQ(req.query, "x=1?y=2");  // Only the first '?' separates.
  ASSERT_EQ(Parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &req).status, Status::kOk);
  EXPECT_EQ(req.method, Method::kOptions);
  EXPECT_EQ(req.path, "*");
}

TEST(HttpParserTest, Methods) {
  const std::pair<std::string_view, Method> cases[] = {
      {"GET", Method::kGet},     {"HEAD", Method::kHead},     {"POST", Method::kPost},
      {"PUT", Method::kPut},     {"DELETE", Method::kDelete}, {"OPTIONS", Method::kOptions},
      {"PATCH", Method::kPatch}, {"BREW", Method::kOther},    {"get", Method::kOther},
  };
  for (const auto& [text, method] : cases) {
    Request req;
    const std::string input = std::string(text) + " / HTTP/1.1\r\nHost: h\r\n\r\n";
    ASSERT_EQ(Parse(input, &req).status, Status::kOk) << text;
    EXPECT_EQ(req.method, method) << text;
    EXPECT_EQ(req.method_text, text);
  }
}

TEST(HttpParserTest, KeepAliveRules) {
  struct Case {
    std::string_view input;
    int minor;
    bool keep_alive;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 1, true},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 1, false},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n", 1, false},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", 1, true},
      {"GET / HTTP/1.0\r\n\r\n", 0, false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, true},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 0, true},
      {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0, false},
      {"GET / HTTP/1.0\r\nConnection: foo\r\nConnection: keep-alive\r\n\r\n", 0, true},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", 1,
       false},
  };
  for (const Case& c : cases) {
    Request req;
    ASSERT_EQ(Parse(c.input, &req).status, Status::kOk) << c.input;
    EXPECT_EQ(req.version_minor, c.minor) << c.input;
    EXPECT_EQ(req.keep_alive, c.keep_alive) << c.input;
  }
}

TEST(HttpParserTest, ContentLength) {
  Request req;
  ASSERT_EQ(
      Parse("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\nhello world!", &req).status,
      Status::kOk);
  EXPECT_EQ(req.content_length, 12u);
  Limits limits;
  limits.max_body_bytes = 100;
  ASSERT_EQ(
      Parse("POST /x HTTP/1.1\r\nHost: h\r\ncontent-length: 100\r\n\r\n", &req, limits).status,
      Status::kOk);
  EXPECT_EQ(req.content_length, 100u);
  ASSERT_EQ(Parse("POST /x HTTP/1.1\r\nHost: h\r\ncontent-length: 0\r\n\r\n", &req, limits).status,
            Status::kOk);
  EXPECT_EQ(req.content_length, 0u);
}

TEST(HttpParserTest, BareLineFeedsAndLeadingEmptyLines) {
  Request req;
  ParseResult r = Parse("GET /a HTTP/1.1\nHost: h\n\n", &req);
  ASSERT_EQ(r.status, Status::kOk);
  EXPECT_EQ(r.consumed, 25u);
  EXPECT_EQ(req.Find("host"), "h");
  r = Parse("\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n", &req);
  ASSERT_EQ(r.status, Status::kOk);
  EXPECT_EQ(req.target, "/a");
}

TEST(HttpParserTest, NeedMore) {
  Request req;
  EXPECT_EQ(Parse("", &req).status, Status::kNeedMore);
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\n", &req).status, Status::kNeedMore);
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: x\r\n\r", &req).status, Status::kNeedMore);
}

// Every valid request, cut at every byte: each prefix is kNeedMore and the whole parses to the
// same result as in one piece.
TEST(HttpParserTest, EverySplitPoint) {
  const std::string_view requests[] = {
      kBrowserUpgrade,
      "GET / HTTP/1.0\r\n\r\n",
      "GET /a HTTP/1.1\nHost: h\n\n",
      "\r\nPOST /upload?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX:  y  \r\n\r\n",
      "DELETE /item/7 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
  };
  for (std::string_view input : requests) {
    Request whole;
    const ParseResult expected = Parse(input, &whole);
    ASSERT_EQ(expected.status, Status::kOk) << input;
    for (size_t cut = 0; cut < input.size(); ++cut) {
      Request part;
      EXPECT_EQ(Parse(input.substr(0, cut), &part).status, Status::kNeedMore)
          << "cut " << cut << " of " << input;
    }
    // And from the same buffer grown in place (a receive buffer filling up).
    std::string buffer;
    for (size_t i = 0; i < input.size(); ++i) {
      buffer.push_back(input[i]);
      Request req;
      const ParseResult r = ParseRequest(buffer, Limits{}, &req);
      if (i + 1 < input.size()) {
        ASSERT_EQ(r.status, Status::kNeedMore);
        continue;
      }
      ASSERT_EQ(r.status, Status::kOk);
      EXPECT_EQ(r.consumed, expected.consumed);
      EXPECT_EQ(req.method, whole.method);
      EXPECT_EQ(req.target, whole.target);
      EXPECT_EQ(req.path, whole.path);
      EXPECT_EQ(req.query, whole.query);
      EXPECT_EQ(req.version_minor, whole.version_minor);
      EXPECT_EQ(req.content_length, whole.content_length);
      EXPECT_EQ(req.keep_alive, whole.keep_alive);
      ASSERT_EQ(req.header_count, whole.header_count);
      for (size_t h = 0; h < req.header_count; ++h) {
        EXPECT_EQ(req.headers[h].name, whole.headers[h].name);
        EXPECT_EQ(req.headers[h].value, whole.headers[h].value);
      }
    }
  }
}

TEST(HttpParserTest, PipelinedRequestsStopAtHeadEnd) {
  const std::string first = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
  const std::string second = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string stream = first + "abc" + second + "GET /c HTT";
  Request req;
  ParseResult r = ParseRequest(stream, Limits{}, &req);
  ASSERT_EQ(r.status, Status::kOk);
  EXPECT_EQ(r.consumed, first.size());
  EXPECT_EQ(req.path, "/a");
  const std::string_view rest = std::string_view(stream).substr(r.consumed + req.content_length);
  r = ParseRequest(rest, Limits{}, &req);
  ASSERT_EQ(r.status, Status::kOk);
  EXPECT_EQ(r.consumed, second.size());
  EXPECT_EQ(req.path, "/b");
  EXPECT_EQ(ParseRequest(rest.substr(r.consumed), Limits{}, &req).status, Status::kNeedMore);
}

TEST(HttpParserTest, MalformedRequestLine) {
  ExpectError("GET\r\n\r\n", 400);
  ExpectError("GET /\r\n\r\n", 400);
  ExpectError("GET  / HTTP/1.1\r\n\r\n", 400);      // Double space: empty target.
  ExpectError("GET / HTTP/1.1 \r\n\r\n", 400);      // Trailing space in the version.
  ExpectError("G(T / HTTP/1.1\r\n\r\n", 400);       // Non-token method.
  ExpectError(" GET / HTTP/1.1\r\n\r\n", 400);      // Empty method.
  ExpectError("GET /a\x01 HTTP/1.1\r\n\r\n", 400);  // Control in the target.
  ExpectError("GET /\xC3\xA9 HTTP/1.1\r\n\r\n", 400);
  ExpectError("GET / HTTX/1.1\r\n\r\n", 400);
  ExpectError("GET / HTTP/1.x\r\n\r\n", 400);
  ExpectError("GET / HTTP/11\r\n\r\n", 400);
  ExpectError("GET / http/1.1\r\n\r\n", 400);
  ExpectError("GET / HTTP/1.1\rX\r\n\r\n", 400);  // Bare CR.
  // Rejected as soon as the bad line is complete, before the rest of the head arrives.
  ExpectError("GET/ HTTP/1.1\r\n", 400);
}

TEST(HttpParserTest, MalformedHeaders) {
  ExpectError("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400);
  ExpectError("GET / HTTP/1.1\r\nName : v\r\n\r\n", 400);  // Space before the colon.
  ExpectError("GET / HTTP/1.1\r\n: v\r\n\r\n", 400);
  ExpectError("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400);  // obs-fold.
  ExpectError("GET / HTTP/1.1\r\nA: b\r\n\tfolded\r\n\r\n", 400);
  ExpectError("GET / HTTP/1.1\r\nA\x7F: v\r\n\r\n", 400);
  ExpectError("GET / HTTP/1.1\r\nA: v\0w\r\n\r\n"sv, 400);  // NUL.
  ExpectError("GET / HTTP/1.1\r\nA: v\rw\r\n\r\n", 400);
  ExpectError("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
}

TEST(HttpParserTest, ContentLengthErrors) {
  ExpectError("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400);
  ExpectError("POST / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\n", 400);
  ExpectError("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
  ExpectError("POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", 400);
  ExpectError("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400);
  ExpectError("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400);
  ExpectError("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400);
  ExpectError("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400);
  ExpectError("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

TEST(HttpParserTest, BodyTooLarge) {
  Limits limits;
  limits.max_body_bytes = 100;
  ExpectError("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413, limits);
  ExpectError("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413);
}

TEST(HttpParserTest, HeadTooLargeBySize) {
  Limits limits;
  limits.max_header_bytes = 64;
  const std::string head =
      "GET / HTTP/1.1\r\nHost: " + std::string(64 - 16 - 6 - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(head.size(), 64u);
  Request req;
  ParseResult r = Parse(head, &req, limits);
  ASSERT_EQ(r.status, Status::kOk);  // Exactly at the limit.
  EXPECT_EQ(r.consumed, 64u);
  const std::string over =
      "GET / HTTP/1.1\r\nHost: " + std::string(64 - 16 - 6 - 4 + 1, 'a') + "\r\n\r\n";
  ExpectError(over, 431, limits);
  // An unfinished head longer than the limit fails without waiting for its end.
  ExpectError("GET / HTTP/1.1\r\nX: " + std::string(100, 'a'), 431, limits);
  // Up to the limit an unfinished head is just incomplete.
  EXPECT_EQ(Parse(over.substr(0, 64), &req, limits).status, Status::kNeedMore);
  ExpectError(over.substr(0, 65), 431, limits);
}

TEST(HttpParserTest, HeadTooLargeByCount) {
  std::string head = "GET / HTTP/1.1\r\n";
  head += "Host: h\r\n";
  for (size_t i = 1; i < kMaxHeaders; ++i) head += "H" + std::to_string(i) + ": v\r\n";
  Request req;
  const std::string full = head + "\r\n";
  ParseResult r = Parse(full, &req);
  ASSERT_EQ(r.status, Status::kOk);
  EXPECT_EQ(req.header_count, kMaxHeaders);
  EXPECT_EQ(req.Find("h63"), "v");
  ExpectError(head + "One: more\r\n\r\n", 431);
}

TEST(HttpParserTest, TransferEncodingNotImplemented) {
  ExpectError("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
  ExpectError("POST / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: gzip\r\n\r\n", 501);
  // With Content-Length as well it is a smuggling attempt, not an unsupported feature.
  ExpectError(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400);
}

// RFC 9112 §3.2: Host is mandatory in HTTP/1.1 (it may be empty), optional in HTTP/1.0.
TEST(HttpParserTest, HostRequiredInHttp11) {
  ExpectError("GET / HTTP/1.1\r\n\r\n", 400);
  ExpectError("GET / HTTP/1.1\r\nX-Host: h\r\n\r\n", 400);
  Request req;
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &req).status, Status::kOk);
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost:\r\n\r\n", &req).status, Status::kOk);
  EXPECT_EQ(Parse("GET / HTTP/1.0\r\n\r\n", &req).status, Status::kOk);
}

TEST(HttpParserTest, VersionNotSupported) {
  ExpectError("GET / HTTP/2.0\r\n\r\n", 505);
  ExpectError("GET / HTTP/1.2\r\n\r\n", 505);
  ExpectError("GET / HTTP/0.9\r\n\r\n", 505);
}

TEST(HttpParserTest, Tokens) {
  EXPECT_TRUE(HasToken("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(HasToken("Upgrade", "upgrade"));
  EXPECT_TRUE(HasToken(" ,, upgrade ,", "UPGRADE"));
  EXPECT_TRUE(HasToken("a,\tb\t,c", "b"));
  EXPECT_FALSE(HasToken("upgraded", "upgrade"));
  EXPECT_FALSE(HasToken("keep-alive", "upgrade"));
  EXPECT_FALSE(HasToken("", "upgrade"));
  EXPECT_FALSE(HasToken("up grade", "upgrade"));
  EXPECT_TRUE(EqualsIgnoreCase("Sec-WebSocket-Key", "sec-websocket-key"));
  EXPECT_FALSE(EqualsIgnoreCase("abc", "abd"));
  EXPECT_FALSE(EqualsIgnoreCase("abc", "abcd"));
  EXPECT_FALSE(EqualsIgnoreCase("[", "{"));  // Only letters fold.
}

TEST(HttpParserTest, ReasonPhrases) {
  // Every status the server sends (parser, handshake, routes, chat API), with its RFC 9110 §15
  // phrase: a client logging "201 Unknown" would be right to complain.
  const std::pair<int, std::string_view> sent[] = {
      {101, "Switching Protocols"},
      {200, "OK"},
      {201, "Created"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {408, "Request Timeout"},
      {409, "Conflict"},
      {413, "Content Too Large"},
      {426, "Upgrade Required"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {503, "Service Unavailable"},
      {505, "HTTP Version Not Supported"},
  };
  for (const auto& [status, phrase] : sent) EXPECT_EQ(ReasonPhrase(status), phrase) << status;
  EXPECT_EQ(ReasonPhrase(999), "Unknown");
}

// Random mutations of valid requests: the parser must never crash or read past its input, and
// the status is always one of the three.
TEST(HttpParserTest, MutationFuzz) {
  const std::string_view seeds[] = {
      kBrowserUpgrade,
      "POST /x HTTP/1.1\r\nContent-Length: 12\r\nTransfer-Encoding: chunked\r\n\r\n",
      "GET / HTTP/1.0\nConnection: keep-alive\n\n",
  };
  std::mt19937 rng(12345);
  const std::string_view alphabet = "\r\n :\t\x00\x7F\x80\xFF?/0123456789aAzZ-,"sv;
  Limits limits;
  limits.max_header_bytes = 512;
  int ok = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s(seeds[iter % std::size(seeds)]);
    const int mutations = 1 + static_cast<int>(rng() % 8);
    for (int m = 0; m < mutations; ++m) {
      const size_t pos = s.empty() ? 0 : rng() % s.size();
      switch (rng() % 5) {
        case 0:
          if (!s.empty()) s[pos] = static_cast<char>(rng());
          break;
        case 1:
          if (!s.empty()) s[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 2:
          s.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 3:
          if (!s.empty()) s.erase(pos, 1 + rng() % 8);
          break;
        case 4:
          s.resize(rng() % (s.size() + 1));
          break;
      }
    }
    Request req;
    const ParseResult r = ParseExact(s, &req, limits);
    ASSERT_TRUE(r.status == Status::kOk || r.status == Status::kNeedMore ||
                r.status == Status::kError);
    if (r.status == Status::kOk) {
      ++ok;
      ASSERT_LE(r.consumed, s.size());
      ASSERT_LE(req.header_count, kMaxHeaders);
    } else if (r.status == Status::kError) {
      ASSERT_TRUE(r.error_status == 400 || r.error_status == 413 || r.error_status == 431 ||
                  r.error_status == 501 || r.error_status == 505)
          << r.error_status;
    }
  }
  EXPECT_GT(ok, 0);  // The mutations leave some requests valid.
}

}  // namespace
}  // namespace ringcast::http
