#include "tools/bench/client_handshake.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "proto/http_parser.h"
#include "proto/ws_deflate.h"
#include "proto/ws_handshake.h"

namespace ringcast::bench {
namespace {

std::string Accept(std::string_view key) {
  const auto accept = ws::ComputeAcceptKey(key);
  return std::string(accept.data(), accept.size());
}

std::string Response(std::string_view key, std::string_view extra = "") {
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " +
         Accept(key) + "\r\n" + std::string(extra) + "\r\n";
}

TEST(ClientHandshakeTest, EncodeKeyMatchesRfcExample) {
  // RFC 6455 §4.1: the nonce "the sample nonce" encodes to dGhlIHNhbXBsZSBub25jZQ==.
  std::array<uint8_t, 16> nonce;
  std::memcpy(nonce.data(), "the sample nonce", 16);
  EXPECT_EQ(EncodeKey(nonce), "dGhlIHNhbXBsZSBub25jZQ==");
}

TEST(ClientHandshakeTest, RequestPassesTheServerSideValidator) {
  const std::string request =
      BuildUpgradeRequest("127.0.0.1:8080", "/raw/ch-7", "dGhlIHNhbXBsZSBub25jZQ==");
  http::Request parsed;
  const http::ParseResult result = http::ParseRequest(request, http::Limits{}, &parsed);
  ASSERT_EQ(result.status, http::Status::kOk);
  EXPECT_EQ(result.consumed, request.size());
  EXPECT_EQ(parsed.path, "/raw/ch-7");
  EXPECT_EQ(parsed.Find("host"), "127.0.0.1:8080");
  const ws::HandshakeResult upgrade = ws::ValidateUpgrade(parsed);
  EXPECT_EQ(upgrade.error_status, 0) << upgrade.error_reason;
}

TEST(ClientHandshakeTest, DeflateOfferIsOneTheServerAccepts) {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  const std::string request = BuildUpgradeRequest("h", "/echo", key, kDeflateOffer);
  http::Request parsed;
  ASSERT_EQ(http::ParseRequest(request, http::Limits{}, &parsed).status, http::Status::kOk);
  EXPECT_EQ(parsed.Find("sec-websocket-extensions"), kDeflateOffer);
  EXPECT_EQ(ws::ValidateUpgrade(parsed).error_status, 0);
  EXPECT_TRUE(ws::NegotiateDeflate(parsed).enabled);
  EXPECT_EQ(BuildUpgradeRequest("h", "/echo", key).find("Extensions"), std::string::npos);
}

TEST(ClientHandshakeTest, DeflateAnswerIsRead) {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  UpgradeResult plain = ParseUpgradeResponse(Response(key), key);
  ASSERT_EQ(plain.status, UpgradeStatus::kOk);
  EXPECT_FALSE(plain.deflate);
  UpgradeResult agreed = ParseUpgradeResponse(
      Response(key,
               "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
               "client_no_context_takeover\r\n"),
      key);
  ASSERT_EQ(agreed.status, UpgradeStatus::kOk) << agreed.error;
  EXPECT_TRUE(agreed.deflate);
  // Agreeing while keeping its context would need an inflater per connection: refused.
  UpgradeResult keeps =
      ParseUpgradeResponse(Response(key, "Sec-WebSocket-Extensions: permessage-deflate\r\n"), key);
  EXPECT_EQ(keeps.status, UpgradeStatus::kError);
}

TEST(ClientHandshakeTest, AcceptsA101AtEverySplitPointAndKeepsTheFrames) {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  const std::string head = Response(key, "Server: test\r\n");
  const std::string input = head + "\x82\x02hi";  // A frame right behind the head.
  for (size_t cut = 0; cut < head.size(); ++cut) {
    EXPECT_EQ(ParseUpgradeResponse(input.substr(0, cut), key).status, UpgradeStatus::kNeedMore)
        << cut;
  }
  const UpgradeResult result = ParseUpgradeResponse(input, key);
  ASSERT_EQ(result.status, UpgradeStatus::kOk) << result.error;
  EXPECT_EQ(result.consumed, head.size());
}

TEST(ClientHandshakeTest, HeaderNamesAndTokensAreCaseInsensitive) {
  const std::string key = "AQIDBAUGBwgJCgsMDQ4PEA==";
  const std::string response =
      "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, "
      "UPGRADE\r\nsec-websocket-accept:   " +
      Accept(key) + "  \r\n\r\n";
  EXPECT_EQ(ParseUpgradeResponse(response, key).status, UpgradeStatus::kOk);
}

TEST(ClientHandshakeTest, RejectsWhatRfc6455SaysToFail) {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  const std::string good_accept = Accept(key);
  const std::string cases[] = {
      "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
          good_accept + "\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " +
          good_accept + "\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=x\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
      "garbage\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nno colon here\r\n\r\n",
  };
  for (const std::string& response : cases) {
    const UpgradeResult result = ParseUpgradeResponse(response, key);
    EXPECT_EQ(result.status, UpgradeStatus::kError) << response;
    EXPECT_FALSE(result.error.empty());
  }
  EXPECT_NE(ParseUpgradeResponse(cases[0], key).error.find("404"), std::string::npos);
  EXPECT_EQ(ParseUpgradeResponse(std::string(kMaxResponseHead + 1, 'a'), key).status,
            UpgradeStatus::kError);
}

}  // namespace
}  // namespace ringcast::bench
