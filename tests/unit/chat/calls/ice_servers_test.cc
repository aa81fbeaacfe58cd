#include "chat/calls/ice_servers.h"

#include <gtest/gtest.h>

namespace ringcast::chat {
namespace {

// The value coturn computes for the same secret and username (its TURN REST API: base64 of
// HMAC-SHA1), here as `printf %s 1700000000:42 | openssl dgst -sha1 -hmac north -binary |
// base64` gives it.
TEST(IceServersTest, TheCredentialIsCoturnsRestApiScheme) {
  const TurnCredential credential = MakeTurnCredential("north", 42, 1700000000);
  EXPECT_EQ(credential.username, "1700000000:42");
  EXPECT_EQ(credential.password, "DWX3FI7DiPIpadEYQAZsnZBAagI=");
}

TEST(IceServersTest, EncodesStunAsIsAndTurnWithTheCallersCredential) {
  IceServerOptions options{.stun_urls = {"stun:127.0.0.1:3478"},
                           .turn_urls = {"turn:127.0.0.1:3478?transport=udp", "turns:t.example"},
                           .turn_secret = "north",
                           .turn_ttl_s = 600};
  EXPECT_EQ(EncodeIceServers(options, 42, 1699999400),
            R"({"ice_servers":[{"urls":["stun:127.0.0.1:3478"]},)"
            R"({"urls":["turn:127.0.0.1:3478?transport=udp","turns:t.example"],)"
            R"("username":"1700000000:42","credential":"DWX3FI7DiPIpadEYQAZsnZBAagI="}],)"
            R"("expires_at":1700000000000})");
  options.turn_urls.clear();
  EXPECT_EQ(EncodeIceServers(options, 42, 1),
            R"({"ice_servers":[{"urls":["stun:127.0.0.1:3478"]}],"expires_at":null})");
  EXPECT_EQ(EncodeIceServers(IceServerOptions{}, 42, 1), R"({"ice_servers":[],"expires_at":null})");
}

TEST(IceServersTest, UrlListsAreCheckedEntryByEntry) {
  std::vector<std::string> urls;
  EXPECT_EQ(ParseIceUrls(" turn:a.example:3478?transport=tcp , turns:b.example,,", true, &urls),
            std::nullopt);
  EXPECT_EQ(urls,
            (std::vector<std::string>{"turn:a.example:3478?transport=tcp", "turns:b.example"}));
  urls.clear();
  EXPECT_EQ(ParseIceUrls("", false, &urls), std::nullopt);
  EXPECT_TRUE(urls.empty());
  EXPECT_EQ(ParseIceUrls("stun:a.example,turn:b.example", false, &urls),
            "--stun-urls: \"turn:b.example\" is not stun:HOST[:PORT] or stuns:HOST[:PORT]");
  EXPECT_EQ(ParseIceUrls("turn:", true, &urls),
            "--turn-urls: \"turn:\" is not turn:HOST[:PORT] or turns:HOST[:PORT]");
  EXPECT_EQ(ParseIceUrls("turn:a\"b", true, &urls),
            "--turn-urls: \"turn:a\"b\" holds a space, a quote, a backslash or a control "
            "character");
  EXPECT_TRUE(ParseIceUrls("turn:a b", true, &urls).has_value());
}

}  // namespace
}  // namespace ringcast::chat
