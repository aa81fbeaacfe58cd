#include "tools/bench/url.h"

#include <gtest/gtest.h>

namespace ringcast::bench {
namespace {

TEST(WsUrlTest, ParsesHostPortAndTarget) {
  WsUrl url;
  std::string error;
  ASSERT_TRUE(ParseWsUrl("ws://127.0.0.1:8080/echo", &url, &error)) << error;
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, 8080);
  EXPECT_EQ(url.target, "/echo");
  EXPECT_EQ(url.ToString(), "ws://127.0.0.1:8080/echo");

  ASSERT_TRUE(ParseWsUrl("ws://localhost/raw/ch-1?x=1", &url, &error));
  EXPECT_EQ(url.host, "localhost");
  EXPECT_EQ(url.port, 80);
  EXPECT_EQ(url.target, "/raw/ch-1?x=1");

  ASSERT_TRUE(ParseWsUrl("ws://10.0.0.2:9000", &url, &error));
  EXPECT_EQ(url.target, "/");
  ASSERT_TRUE(ParseWsUrl("ws://10.0.0.2:9000?q", &url, &error));
  EXPECT_EQ(url.target, "/?q");
}

TEST(WsUrlTest, SeveralServersShareOnePath) {
  std::vector<WsUrl> urls;
  std::string error;
  ASSERT_TRUE(
      ParseWsUrls({"ws://127.0.0.1:8001", "ws://127.0.0.1:8002", "ws://h:80"}, &urls, &error))
      << error;
  ASSERT_EQ(urls.size(), 3u);
  EXPECT_EQ(urls[1].port, 8002);
  EXPECT_EQ(urls[0].HostHeader(), "127.0.0.1:8001");
  EXPECT_EQ(urls[2].HostHeader(), "h");  // Port 80 is left out of the Host header.
  EXPECT_EQ(urls[2].target, "/");

  EXPECT_FALSE(ParseWsUrls({}, &urls, &error));
  EXPECT_FALSE(ParseWsUrls({"ws://a:1/raw/x", "ws://a:2/raw/y"}, &urls, &error));
  EXPECT_NE(error.find("same path"), std::string::npos) << error;
  EXPECT_FALSE(ParseWsUrls({"ws://a:1/", "wss://a:2/"}, &urls, &error));
  EXPECT_NE(error.find("TLS"), std::string::npos) << error;
}

TEST(WsUrlTest, RejectsWhatItCannotUse) {
  WsUrl url;
  std::string error;
  for (const char* bad :
       {"http://127.0.0.1/echo", "wss:/127.0.0.1/echo", "ws://", "ws://:80/x", "ws://127.0.0.1:0/x",
        "ws://127.0.0.1:65536/x", "ws://127.0.0.1:8x/x", "ws://127.0.0.1:/", "ws://[::1]:80/",
        "ws://user@host/", "ws://h/echo#frag", "127.0.0.1:8080"}) {
    EXPECT_FALSE(ParseWsUrl(bad, &url, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(WsUrlTest, TakesWssForTls) {
  WsUrl url;
  std::string error;
  ASSERT_TRUE(ParseWsUrl("wss://localhost/echo", &url, &error)) << error;
  EXPECT_TRUE(url.tls);
  EXPECT_EQ(url.port, 443);
  EXPECT_EQ(url.HostHeader(), "localhost");  // 443 is wss's own port.
  EXPECT_EQ(url.ToString(), "wss://localhost:443/echo");
  ASSERT_TRUE(ParseWsUrl("wss://127.0.0.1:8443/raw/x", &url, &error)) << error;
  EXPECT_EQ(url.HostHeader(), "127.0.0.1:8443");
  ASSERT_TRUE(ParseWsUrl("ws://h:443/", &url, &error)) << error;
  EXPECT_FALSE(url.tls);
  EXPECT_EQ(url.HostHeader(), "h:443");
}

TEST(Ipv4Test, ParsesDottedQuads) {
  uint32_t a = 0;
  ASSERT_TRUE(ParseIpv4("127.0.0.1", &a));
  EXPECT_EQ(a, 0x7F000001u);
  ASSERT_TRUE(ParseIpv4("255.255.255.255", &a));
  EXPECT_EQ(a, 0xFFFFFFFFu);
  EXPECT_EQ(Ipv4ToString(0x7F00010Au), "127.0.1.10");
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "1.2.3.4 ", "a.b.c.d",
                          "1.2.3.0004", "-1.2.3.4"}) {
    EXPECT_FALSE(ParseIpv4(bad, &a)) << bad;
  }
}

TEST(SourceListTest, RangesAndListsExpandInOrder) {
  std::vector<uint32_t> sources;
  std::string error;
  ASSERT_TRUE(ParseSourceList("127.0.0.1-127.0.0.16", &sources, &error)) << error;
  ASSERT_EQ(sources.size(), 16u);
  EXPECT_EQ(sources.front(), 0x7F000001u);
  EXPECT_EQ(sources.back(), 0x7F000010u);

  ASSERT_TRUE(ParseSourceList("127.0.0.250-127.0.1.2, 10.0.0.1", &sources, &error));
  ASSERT_EQ(sources.size(), 10u);  // Crosses an octet boundary: .250-.255, 1.0-1.2, then one.
  EXPECT_EQ(Ipv4ToString(sources[6]), "127.0.1.0");
  EXPECT_EQ(Ipv4ToString(sources[9]), "10.0.0.1");

  ASSERT_TRUE(ParseSourceList("", &sources, &error));
  EXPECT_TRUE(sources.empty());
  ASSERT_TRUE(ParseSourceList("127.0.0.5", &sources, &error));
  EXPECT_EQ(sources.size(), 1u);
}

TEST(SourceListTest, RejectsBadRanges) {
  std::vector<uint32_t> sources{1, 2};
  std::string error;
  for (const char* bad : {"127.0.0.16-127.0.0.1", "127.0.0.1-", "127.0.0.x", "1.2.3.4,,",
                          "127.0.0.0-127.255.255.255"}) {
    EXPECT_FALSE(ParseSourceList(bad, &sources, &error)) << bad;
  }
  EXPECT_EQ(sources.size(), 2u);  // Left alone on failure.
}

}  // namespace
}  // namespace ringcast::bench
