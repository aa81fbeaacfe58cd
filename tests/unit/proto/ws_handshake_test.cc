#include "proto/ws_handshake.h"

#include <gtest/gtest.h>

#include <string>

namespace ringcast::ws {
namespace {

std::string_view AcceptView(const std::array<char, kAcceptKeyLength>& accept) {
  return std::string_view(accept.data(), accept.size());
}

// Builds and parses a request head; `request_` keeps the text alive for the views.
class HandshakeTest : public ::testing::Test {
 protected:
  static constexpr std::string_view kSampleKey = "dGhlIHNhbXBsZSBub25jZQ==";

  HandshakeResult Validate(std::string text) {
    text_ = std::move(text);
    const http::ParseResult r = http::ParseRequest(text_, http::Limits{}, &request_);
    EXPECT_EQ(r.status, http::Status::kOk) << text_;
    return ValidateUpgrade(request_);
  }

  static std::string Upgrade(std::string_view request_line, std::string_view connection,
                             std::string_view upgrade, std::string_view version,
                             std::string_view key) {
    std::string s(request_line);
    s += "\r\nHost: example.com\r\n";
    if (!connection.empty()) s += "Connection: " + std::string(connection) + "\r\n";
    if (!upgrade.empty()) s += "Upgrade: " + std::string(upgrade) + "\r\n";
    if (!version.empty()) s += "Sec-WebSocket-Version: " + std::string(version) + "\r\n";
    if (!key.empty()) s += "Sec-WebSocket-Key: " + std::string(key) + "\r\n";
    return s + "\r\n";
  }

  static std::string Standard() {
    return Upgrade("GET /chat HTTP/1.1", "Upgrade", "websocket", "13", kSampleKey);
  }

  // A valid upgrade request's fields; each case changes what it tests.
  struct Fields {
    std::string_view request_line = "GET / HTTP/1.1";
    std::string_view connection = "Upgrade";
    std::string_view upgrade = "websocket";
    std::string_view version = "13";
    std::string_view key = kSampleKey;
  };
  // The refusal's HTTP status (0: accepted).
  int StatusOf(const Fields& f) {
    return Validate(Upgrade(f.request_line, f.connection, f.upgrade, f.version, f.key))
        .error_status;
  }
  std::string text_;
  http::Request request_;
};

TEST(AcceptKeyTest, Rfc6455Example) {
  // RFC 6455 §1.3.
  EXPECT_EQ(AcceptView(ComputeAcceptKey("dGhlIHNhbXBsZSBub25jZQ==")),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(AcceptKeyTest, LongKeyTakesTheHeapPath) {
  // Not a valid key, but the function is total: same digest either way it is buffered.
  const std::string long_key(200, 'k');
  const auto a = ComputeAcceptKey(long_key);
  const auto b = ComputeAcceptKey(long_key);
  EXPECT_EQ(AcceptView(a), AcceptView(b));
  EXPECT_NE(AcceptView(a), AcceptView(ComputeAcceptKey(std::string(199, 'k'))));
}

TEST_F(HandshakeTest, ValidUpgrade) {
  const HandshakeResult r = Validate(Standard());
  EXPECT_EQ(r.error_status, 0) << r.error_reason;
  EXPECT_EQ(AcceptView(r.accept), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_F(HandshakeTest, TokenListsAndCase) {
  const std::pair<std::string_view, std::string_view> ok_cases[] = {
      {"keep-alive, Upgrade", "websocket"},
      {"upgrade", "WebSocket"},
      {"UPGRADE", "WEBSOCKET"},
      {"Upgrade,keep-alive", "websocket, h2c"},
  };
  for (const auto& [connection, upgrade] : ok_cases) {
    EXPECT_EQ(StatusOf({.connection = connection, .upgrade = upgrade}), 0)
        << connection << " / " << upgrade;
  }
  // The tokens may sit on separate header lines.
  const HandshakeResult split = Validate(
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nConnection: Upgrade\r\n"
      "Upgrade: websocket\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  EXPECT_EQ(split.error_status, 0);
}

TEST_F(HandshakeTest, MissingUpgradeTokens) {
  EXPECT_EQ(StatusOf({.connection = "keep-alive"}), 426);
  EXPECT_EQ(StatusOf({.upgrade = "h2c"}), 426);
  EXPECT_EQ(StatusOf({.connection = ""}), 426);
  EXPECT_EQ(StatusOf({.upgrade = ""}), 426);
  EXPECT_EQ(StatusOf({.connection = "Upgraded", .upgrade = "websockets"}), 426);
}

TEST_F(HandshakeTest, Version) {
  HandshakeResult r = Validate(Upgrade("GET / HTTP/1.1", "Upgrade", "websocket", "8", kSampleKey));
  EXPECT_EQ(r.error_status, 426);
  EXPECT_FALSE(r.error_reason.empty());
  EXPECT_EQ(StatusOf({.version = ""}), 426);
  EXPECT_EQ(StatusOf({.version = "13, 8"}), 426);
}

TEST_F(HandshakeTest, Method) {
  EXPECT_EQ(StatusOf({.request_line = "POST / HTTP/1.1"}), 405);
  EXPECT_EQ(StatusOf({.request_line = "HEAD / HTTP/1.1"}), 405);
}

TEST_F(HandshakeTest, Http10) { EXPECT_EQ(StatusOf({.request_line = "GET / HTTP/1.0"}), 400); }

TEST_F(HandshakeTest, BadKeys) {
  const std::string_view bad_keys[] = {
      "",                              // Missing.
      "dGhlIHNhbXBsZSBub25jZQ",        // Unpadded.
      "dGhlIHNhbXBsZSBub25jZQ=",       // Short padding.
      "dGhlIHNhbXBsZSBub25jZQ==AAAA",  // 20 bytes.
      "dGhlIHNhbXBsZSBub25j",          // 15 bytes, no padding.
      "dGhlIHNhbXBsZSBub25jZQA=",      // 17 bytes.
      "dGhlIHNhbXBsZSBub25jZR==",      // Stray low bits: not canonical base64 of 16 bytes.
      "dGhlIHNhbXBsZSBub25jZ!==",      // Not base64.
      "dGhlIHNhbXBsZSB ub25jZQ=",      // Space inside.
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  };
  for (std::string_view key : bad_keys) {
    EXPECT_EQ(StatusOf({.key = key}), 400) << "key '" << key << "'";
  }
  // Other valid 16-byte keys are accepted.
  EXPECT_EQ(StatusOf({.key = "AAAAAAAAAAAAAAAAAAAAAA=="}), 0);
  EXPECT_EQ(StatusOf({.key = "/////////////////////w=="}), 0);
}

TEST_F(HandshakeTest, RepeatedKey) {
  const HandshakeResult r = Validate(
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n");
  EXPECT_EQ(r.error_status, 400);
}

}  // namespace
}  // namespace ringcast::ws
