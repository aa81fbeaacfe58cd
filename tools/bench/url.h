// Target and source-address parsing for ringcast-bench: pure functions, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast::bench {

// ws://host[:port][/path][?query], or wss:// (TLS: port 443 unless given). The host is kept as
// written (for the Host header and TLS's server name); the address it names is resolved later.
struct WsUrl {
  std::string host;
  uint16_t port = 80;
  bool tls = false;
  std::string target = "/";  // Request target: path plus "?query" when present.

  std::string ToString() const;
  std::string HostHeader() const;  // "host" on the scheme's own port, else "host:port".
};

// Returns false with *error set on anything that is not a ws:// or wss:// URL with a valid port.
bool ParseWsUrl(std::string_view text, WsUrl* out, std::string* error);

// Several servers (the nodes of a cluster, or plain separate servers), one URL each. Every URL
// must name the same request target: the scenarios build their paths from it once, and a
// connection differs from its neighbour only in the server it lands on; and the same scheme.
// An empty list, a bad URL or a differing target or scheme gives false with *error.
bool ParseWsUrls(const std::vector<std::string>& texts, std::vector<WsUrl>* out,
                 std::string* error);

// An IPv4 address in host byte order.
bool ParseIpv4(std::string_view text, uint32_t* out);
std::string Ipv4ToString(uint32_t address);

// Source addresses: comma-separated items, each an address or an inclusive range "a-b"
// ("127.0.0.1-127.0.0.16,127.0.1.1"). Empty text gives an empty list. Capped at kMaxSources
// addresses so a typo like 127.0.0.1-127.255.255.255 fails fast instead of allocating.
inline constexpr size_t kMaxSources = 65536;
bool ParseSourceList(std::string_view text, std::vector<uint32_t>* out, std::string* error);

}  // namespace ringcast::bench
