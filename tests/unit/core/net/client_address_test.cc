// --trusted-proxies: parsing the list, and which address of a proxied request is the client's
// (the rightmost X-Forwarded-For entry that is not itself a trusted proxy).
#include "core/net/client_address.h"

#include <gtest/gtest.h>

#include <string>

namespace ringcast {
namespace {

TrustedProxies MustParse(std::string_view list) {
  std::string error;
  auto trusted = TrustedProxies::Parse(list, &error);
  EXPECT_TRUE(trusted.has_value()) << list << ": " << error;
  return trusted.value_or(TrustedProxies{});
}

std::string ParseError(std::string_view list) {
  std::string error;
  auto trusted = TrustedProxies::Parse(list, &error);
  EXPECT_FALSE(trusted.has_value()) << list;
  return error;
}

bool Trusts(const TrustedProxies& trusted, std::string_view address) {
  auto parsed = IpAddress::Parse(address);
  EXPECT_TRUE(parsed.has_value()) << address;
  return parsed && trusted.Contains(*parsed);
}

TEST(IpAddressTest, ParsesBothFamiliesAndNothingElse) {
  EXPECT_TRUE(IpAddress::Parse("127.0.0.1"));
  EXPECT_TRUE(IpAddress::Parse("::1"));
  EXPECT_TRUE(IpAddress::Parse("2001:db8::42"));
  EXPECT_TRUE(IpAddress::Parse("::ffff:10.0.0.1"));
  for (std::string_view bad :
       {"", " 127.0.0.1", "127.0.0.1 ", "127.0.0.256", "127.0.0", "127.0.0.1:80", "[::1]", "::1%lo",
        "fe80::1/64", "unknown", "example.com", "1.2.3.4.5", ":::"}) {
    EXPECT_FALSE(IpAddress::Parse(bad)) << bad;
  }
}

TEST(IpAddressTest, CanonicalTextMakesOneKeyPerAddress) {
  EXPECT_EQ(IpAddress::Parse("10.0.0.1")->ToString(), "10.0.0.1");
  // A dual-stack listener's IPv4 peers are mapped addresses: the same key as plain IPv4.
  EXPECT_EQ(IpAddress::Parse("::ffff:10.0.0.1")->ToString(), "10.0.0.1");
  EXPECT_EQ(IpAddress::Parse("::FFFF:10.0.0.1")->ToString(), "10.0.0.1");
  EXPECT_EQ(IpAddress::Parse("2001:DB8:0:0:0:0:0:42")->ToString(), "2001:db8::42");
  EXPECT_EQ(IpAddress::Parse("0:0::1")->ToString(), "::1");
  EXPECT_TRUE(IpAddress::Parse("10.0.0.1")->is_v4());
  EXPECT_FALSE(IpAddress::Parse("::1")->is_v4());
}

// --ipv6-prefix (issue 44, item 6): one customer's /64 is one key.
TEST(IpAddressTest, LimitKeyAggregatesIpv6ByPrefixAndKeepsIpv4) {
  auto key = [](std::string_view address, uint32_t prefix) {
    return IpAddress::Parse(address)->LimitKey(prefix).ToString();
  };
  EXPECT_EQ(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64), "2001:db8:1:2::");
  EXPECT_EQ(key("2001:db8:1:2::1", 64), key("2001:db8:1:2:ffff::9", 64));
  EXPECT_NE(key("2001:db8:1:2::1", 64), key("2001:db8:1:3::1", 64));
  EXPECT_EQ(key("2001:db8:1:2::1", 128), "2001:db8:1:2::1");
  EXPECT_EQ(key("2001:db8:1:2::1", 48), "2001:db8:1::");
  EXPECT_EQ(key("2001:db8:1:2::1", 1), "::");
  EXPECT_EQ(key("2001:db8:ffff::", 33), "2001:db8:8000::");  // A prefix within a byte.
  // IPv4, and IPv4 mapped into IPv6, are whole addresses whatever the prefix.
  EXPECT_EQ(key("198.51.100.7", 64), "198.51.100.7");
  EXPECT_EQ(key("::ffff:198.51.100.7", 1), "198.51.100.7");
  EXPECT_EQ(IpAddress::Parse("::ffff:198.51.100.7")->LimitKey(64),
            IpAddress::Parse("198.51.100.7")->LimitKey(64));
  EXPECT_EQ(IpAddressHash{}(IpAddress::Parse("2001:db8:1:2::1")->LimitKey(64)),
            IpAddressHash{}(IpAddress::Parse("2001:db8:1:2::7")->LimitKey(64)));
}

TEST(IpAddressTest, AddressLimitKeyNamesTheNetwork) {
  EXPECT_EQ(AddressLimitKey("2001:db8:1:2::1", 64), "2001:db8:1:2::/64");
  EXPECT_EQ(AddressLimitKey("2001:DB8:1:2:0:0:0:9", 64), "2001:db8:1:2::/64");
  EXPECT_EQ(AddressLimitKey("2001:db8:1:2::1", 128), "2001:db8:1:2::1/128");
  EXPECT_EQ(AddressLimitKey("203.0.113.7", 64), "203.0.113.7");
  EXPECT_EQ(AddressLimitKey("::ffff:203.0.113.7", 64), "203.0.113.7");
  // Not an address (an unknown peer): unchanged.
  EXPECT_EQ(AddressLimitKey("", 64), "");
  EXPECT_EQ(AddressLimitKey("?", 64), "?");
}

TEST(TrustedProxiesTest, EmptyTrustsNobody) {
  for (std::string_view list : {"", "  "}) {
    TrustedProxies trusted = MustParse(list);
    EXPECT_TRUE(trusted.empty());
    EXPECT_FALSE(Trusts(trusted, "127.0.0.1"));
    EXPECT_FALSE(Trusts(trusted, "::1"));
  }
}

TEST(TrustedProxiesTest, AddressesAndNetworksOfBothFamilies) {
  TrustedProxies trusted = MustParse("10.0.0.5, 192.168.0.0/16,::1 ,  fd00::/8,172.16.0.0/12");
  EXPECT_EQ(trusted.size(), 5u);
  for (std::string_view address :
       {"10.0.0.5", "192.168.0.0", "192.168.255.255", "172.16.0.1",
        "172.31.255.254",  // A prefix that ends inside a byte.
        "::1", "fd12:3456::1",
        // An IPv4 network matches the mapped form of its addresses, never other IPv6 ones.
        "::ffff:10.0.0.5"}) {
    EXPECT_TRUE(Trusts(trusted, address)) << address;
  }
  for (std::string_view address : {
           "10.0.0.4", "10.0.0.6", "192.169.0.1", "172.32.0.1", "172.15.255.255", "::2", "fe80::1",
           "::a00:5"  // IPv4-compatible ::10.0.0.5 is another address.
       }) {
    EXPECT_FALSE(Trusts(trusted, address)) << address;
  }
}

TEST(TrustedProxiesTest, PrefixEdges) {
  TrustedProxies everyone4 = MustParse("0.0.0.0/0");
  EXPECT_TRUE(Trusts(everyone4, "1.2.3.4"));
  EXPECT_TRUE(Trusts(everyone4, "255.255.255.255"));
  EXPECT_FALSE(Trusts(everyone4, "2001:db8::1"));  // /0 of IPv4 is all of IPv4, not IPv6.
  TrustedProxies everyone6 = MustParse("::/0");
  EXPECT_TRUE(Trusts(everyone6, "2001:db8::1"));
  EXPECT_TRUE(Trusts(everyone6, "1.2.3.4"));  // Every address, mapped IPv4 included.
  TrustedProxies host = MustParse("10.1.2.3/32, 2001:db8::1/128");
  EXPECT_TRUE(Trusts(host, "10.1.2.3"));
  EXPECT_FALSE(Trusts(host, "10.1.2.2"));
  EXPECT_TRUE(Trusts(host, "2001:db8::1"));
  EXPECT_FALSE(Trusts(host, "2001:db8::"));
  // Host bits below the prefix are ignored, as nginx's set_real_ip_from reads them.
  TrustedProxies loose = MustParse("10.1.2.3/8");
  EXPECT_TRUE(Trusts(loose, "10.200.0.1"));
  EXPECT_FALSE(Trusts(loose, "11.0.0.1"));
  // A mapped IPv4 network written as IPv6 counts its prefix in 128 bits.
  TrustedProxies mapped = MustParse("::ffff:10.0.0.0/104");
  EXPECT_TRUE(Trusts(mapped, "10.9.8.7"));
  EXPECT_FALSE(Trusts(mapped, "11.0.0.1"));
}

TEST(TrustedProxiesTest, BadEntriesAreNamed) {
  EXPECT_NE(ParseError("10.0.0.300").find("'10.0.0.300'"), std::string::npos);
  EXPECT_NE(ParseError("10.0.0.1, nginx.local").find("'nginx.local'"), std::string::npos);
  EXPECT_NE(ParseError("10.0.0.0/33").find("0-32"), std::string::npos);
  EXPECT_NE(ParseError("::/129").find("0-128"), std::string::npos);
  EXPECT_NE(ParseError("10.0.0.0/").find("prefix length"), std::string::npos);
  EXPECT_NE(ParseError("10.0.0.0/8x").find("prefix length"), std::string::npos);
  EXPECT_NE(ParseError("10.0.0.0/-1").find("prefix length"), std::string::npos);
  EXPECT_NE(ParseError("10.0.0.0/0008").find("prefix length"), std::string::npos);
  EXPECT_NE(ParseError("10.0.0.1/8/8").find("prefix length"), std::string::npos);
  EXPECT_NE(ParseError("10.0.0.1,,10.0.0.2").find("empty entry"), std::string::npos);
  EXPECT_NE(ParseError("10.0.0.1,").find("empty entry"), std::string::npos);
  EXPECT_NE(ParseError(",10.0.0.1").find("empty entry"), std::string::npos);
  EXPECT_NE(ParseError("10.0.0.1 10.0.0.2").find("'10.0.0.1 10.0.0.2'"), std::string::npos);
  EXPECT_NE(ParseError("[::1]").find("'[::1]'"), std::string::npos);
}

ForwardedHeaders Headers(std::string forwarded_for, std::string real_ip = {}) {
  return ForwardedHeaders{std::move(forwarded_for), std::move(real_ip)};
}

TEST(ClientAddressTest, UntrustedPeerIsTheClientWhateverItSends) {
  TrustedProxies nobody;
  EXPECT_EQ(ClientAddress("203.0.113.7", Headers("1.2.3.4", "5.6.7.8"), nobody), "203.0.113.7");
  TrustedProxies proxies = MustParse("10.0.0.0/8");
  EXPECT_EQ(ClientAddress("203.0.113.7", Headers("1.2.3.4", "5.6.7.8"), proxies), "203.0.113.7");
  EXPECT_EQ(ClientAddress("203.0.113.7", Headers("10.0.0.1"), proxies), "203.0.113.7");
  // The peer in canonical form; an unknown one stays unknown.
  EXPECT_EQ(ClientAddress("::ffff:203.0.113.7", Headers(""), proxies), "203.0.113.7");
  EXPECT_EQ(ClientAddress("", Headers("1.2.3.4"), proxies), "");
}

TEST(ClientAddressTest, RightmostUntrustedForwardedForEntry) {
  TrustedProxies proxies = MustParse("10.0.0.0/8, 192.168.1.1, 2001:db8:1::/48");
  // One proxy: it appended the client.
  EXPECT_EQ(ClientAddress("10.0.0.1", Headers("198.51.100.9"), proxies), "198.51.100.9");
  // The client forged entries before it: they are left of the address the proxy appended.
  EXPECT_EQ(ClientAddress("10.0.0.1", Headers("1.1.1.1, 2.2.2.2, 198.51.100.9"), proxies),
            "198.51.100.9");
  // A chain of trusted proxies (a CDN in front of nginx): walk past each of them.
  EXPECT_EQ(
      ClientAddress("10.0.0.1", Headers("1.1.1.1, 198.51.100.9, 192.168.1.1, 10.2.3.4"), proxies),
      "198.51.100.9");
  // Spaces and tabs around entries, several header lines joined by commas.
  EXPECT_EQ(ClientAddress("10.0.0.1", Headers(" 1.1.1.1 ,\t198.51.100.9\t,10.9.9.9 "), proxies),
            "198.51.100.9");
  EXPECT_EQ(ClientAddress("10.0.0.1", Headers("1.1.1.1,,198.51.100.9,"), proxies), "198.51.100.9");
  // IPv6 clients and proxies, canonical form.
  EXPECT_EQ(ClientAddress("2001:db8:1::5", Headers("2001:DB8:2:0::7"), proxies), "2001:db8:2::7");
  EXPECT_EQ(ClientAddress("10.0.0.1", Headers("2001:db8:2::7, 2001:db8:1::5"), proxies),
            "2001:db8:2::7");
  EXPECT_EQ(ClientAddress("10.0.0.1", Headers("::ffff:198.51.100.9"), proxies), "198.51.100.9");
  // X-Real-IP is not consulted while X-Forwarded-For names someone.
  EXPECT_EQ(ClientAddress("10.0.0.1", Headers("198.51.100.9", "203.0.113.1"), proxies),
            "198.51.100.9");
}

TEST(ClientAddressTest, EntriesWithPorts) {
  TrustedProxies proxies = MustParse("10.0.0.0/8");
  EXPECT_EQ(ClientAddress("10.0.0.1", Headers("198.51.100.9:51234"), proxies), "198.51.100.9");
  EXPECT_EQ(ClientAddress("10.0.0.1", Headers("[2001:db8::7]:443"), proxies), "2001:db8::7");
  EXPECT_EQ(ClientAddress("10.0.0.1", Headers("[2001:db8::7]"), proxies), "2001:db8::7");
  EXPECT_EQ(ClientAddress("10.0.0.1", Headers("198.51.100.9, 10.0.0.2:8080"), proxies),
            "198.51.100.9");
}

TEST(ClientAddressTest, AGarbageEntryStopsAtTheLastKnownHop) {
  TrustedProxies proxies = MustParse("10.0.0.0/8");
  // What a trusted proxy appended is not an address: the key is that proxy, never the bytes.
  EXPECT_EQ(ClientAddress("10.0.0.1", Headers("unknown"), proxies), "10.0.0.1");
  EXPECT_EQ(ClientAddress("10.0.0.1", Headers("198.51.100.9, junk, 10.0.0.7"), proxies),
            "10.0.0.7");
  for (std::string_view bad : {"[2001:db8::7", "[2001:db8::7]x", "[2001:db8::7]:", "1.2.3.4:",
                               "1.2.3.4:123456", "1.2.3.4:80:80", "1.2.3.4 5.6.7.8", "_hidden"}) {
    EXPECT_EQ(ClientAddress("10.0.0.1", Headers(std::string(bad)), proxies), "10.0.0.1") << bad;
  }
}

TEST(ClientAddressTest, EveryEntryTrustedGivesTheLeftmost) {
  TrustedProxies proxies = MustParse("10.0.0.0/8");
  EXPECT_EQ(ClientAddress("10.0.0.1", Headers("10.0.0.3, 10.0.0.2"), proxies), "10.0.0.3");
}

TEST(ClientAddressTest, RealIpWithoutForwardedFor) {
  TrustedProxies proxies = MustParse("127.0.0.1");
  EXPECT_EQ(ClientAddress("127.0.0.1", Headers("", "198.51.100.9"), proxies), "198.51.100.9");
  EXPECT_EQ(ClientAddress("127.0.0.1", Headers(" , ", " 198.51.100.9 "), proxies), "198.51.100.9");
  EXPECT_EQ(ClientAddress("127.0.0.1", Headers("", "::FFFF:198.51.100.9"), proxies),
            "198.51.100.9");
  // Not an address: the peer.
  EXPECT_EQ(ClientAddress("127.0.0.1", Headers("", "198.51.100.9:80"), proxies), "127.0.0.1");
  EXPECT_EQ(ClientAddress("127.0.0.1", Headers("", "somebody"), proxies), "127.0.0.1");
  // Neither header: the peer itself.
  EXPECT_EQ(ClientAddress("127.0.0.1", Headers(""), proxies), "127.0.0.1");
}

TEST(ForwardedHeadersTest, CopiesEveryForwardedForLineAndTheFirstRealIp) {
  std::string_view head =
      "POST /api/login HTTP/1.1\r\n"
      "Host: chat.example.com\r\n"
      "X-Forwarded-For: 1.1.1.1, 2.2.2.2\r\n"
      "x-real-ip: 3.3.3.3\r\n"
      "X-FORWARDED-FOR: 4.4.4.4\r\n"
      "X-Real-IP: 5.5.5.5\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  http::Request request;
  ASSERT_EQ(http::ParseRequest(head, http::Limits{}, &request).status, http::Status::kOk);
  ForwardedHeaders copied = ForwardedHeaders::From(request, MustParse("10.0.0.1"));
  EXPECT_EQ(copied.forwarded_for, "1.1.1.1, 2.2.2.2,4.4.4.4");
  EXPECT_EQ(copied.real_ip, "3.3.3.3");
  // Nobody trusted: nothing is copied (nor ever believed).
  ForwardedHeaders none = ForwardedHeaders::From(request, TrustedProxies{});
  EXPECT_EQ(none.forwarded_for, "");
  EXPECT_EQ(none.real_ip, "");
}

}  // namespace
}  // namespace ringcast
