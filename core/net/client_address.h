// Client addresses behind reverse proxies (--trusted-proxies; deploy/nginx/ringcast.conf).
//
// Behind a proxy such as nginx the TCP peer of every request is the proxy, and the client's
// address arrives in a header the proxy sets: X-Forwarded-For (each proxy appends the address it
// received the request from: "client, proxy1, proxy2") or X-Real-IP (one address). Any client
// can send those headers as well, so they are believed only when the peer is a proxy the operator
// listed, and of X-Forwarded-For only the part trusted proxies appended: walking it from the
// right, the first address that is not itself a trusted proxy is the client as the outermost
// trusted proxy saw it; everything to its left came from that client and may be forged.
//
// Pure code, no I/O. The list is parsed once at start (ParseConfig: a bad entry exits 2) and is
// immutable afterwards, read by every shard without synchronisation. Its users are the engine's
// count of connections per address at accept (address_admission.h: a trusted proxy's
// connections are not counted there) and the chat's per-address limits (chat/api/http_api.cc):
// logins, registrations and chat sessions. Every limit counts an address under its LimitKey.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/http_parser.h"

namespace ringcast {

// An IPv4 or IPv6 address. IPv4 is kept as its IPv4-mapped IPv6 form (::ffff:a.b.c.d, RFC 4291
// §2.5.5.2), so that one comparison serves both families and a dual-stack listener's mapped
// peers match IPv4 networks.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};

  // A literal address: dotted-quad IPv4 or an IPv6 text form (inet_pton), nothing else (no
  // port, no brackets, no zone). nullopt otherwise.
  static std::optional<IpAddress> Parse(std::string_view text);
  bool is_v4() const;
  // Canonical text: dotted quad for IPv4 (a mapped ::ffff:a.b.c.d too), RFC 5952 for IPv6. Two
  // spellings of one address give one string, so they share one rate-limit key.
  std::string ToString() const;
  // The key the per-address limits count this address under (--ipv6-prefix): IPv4, and IPv4
  // mapped into IPv6, as itself; any other IPv6 address as its network of `ipv6_prefix` bits
  // (1..128), host bits cleared. One customer is given a whole /64 (RFC 6177) and may use any
  // address in it, so counting single IPv6 addresses would let one client walk through every
  // limit by changing the bits it owns.
  IpAddress LimitKey(uint32_t ipv6_prefix) const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

struct IpAddressHash {
  size_t operator()(const IpAddress& address) const;
};

// LimitKey as text, for the keys the chat builds from a client address (ClientAddress's
// answer): IPv4 as itself ("203.0.113.7"), IPv6 as its network ("2001:db8:1:2::/64"). Text that
// is not an address ("" for an unknown peer) comes back unchanged.
std::string AddressLimitKey(std::string_view address, uint32_t ipv6_prefix);

// The --trusted-proxies list: addresses and networks (CIDR) whose requests may name the client.
class TrustedProxies {
 public:
  // Comma-separated entries, each an address or address/prefix-length, IPv4 or IPv6, with
  // optional spaces around them ("10.0.0.1, 192.168.0.0/16, ::1, fd00::/8"). Host bits below the
  // prefix are ignored (10.1.2.3/8 is 10.0.0.0/8, as nginx's set_real_ip_from reads it). An
  // empty list trusts nobody. A bad entry: nullopt and a one-line *error naming it.
  static std::optional<TrustedProxies> Parse(std::string_view list, std::string* error);

  bool empty() const { return networks_.empty(); }
  size_t size() const { return networks_.size(); }
  bool Contains(const IpAddress& address) const;

 private:
  struct Network {
    IpAddress base;      // Host bits cleared.
    uint8_t prefix = 0;  // Bits of the 128 (an IPv4 /n is /96+n of its mapped form).
  };
  std::vector<Network> networks_;
};

// The headers that may name the client, copied out of a request: login looks its peer up
// asynchronously (Shard::PeerAddress), after the request's views are gone.
struct ForwardedHeaders {
  std::string forwarded_for;  // Every X-Forwarded-For line, in order, joined by ",".
  std::string real_ip;        // The first X-Real-IP line.

  // Copies nothing when `trusted` is empty: then no header is ever believed.
  static ForwardedHeaders From(const http::Request& request, const TrustedProxies& trusted);
};

// The client's address for per-address limits, given the TCP peer (`peer`, as Shard::PeerAddress
// gives it; "" when unknown) and the request's headers:
// - the peer is not a trusted proxy (or not an address): the peer; the headers are ignored;
// - else X-Forwarded-For, walked from the right past trusted proxies: the first other entry
//   (an address, optionally with a port: "a.b.c.d:p", "[v6]:p"). An entry that is not an address
//   ends the walk at the last hop known (the peer, or the trusted entry to its right): the key
//   falls back on a proxy, shared by many clients, rather than on bytes anyone could choose.
//   Every entry trusted: the leftmost;
// - else (no X-Forwarded-For entry) X-Real-IP if it is an address;
// - else the peer.
// Addresses come back in canonical form (IpAddress::ToString); an unknown peer as "".
std::string ClientAddress(std::string_view peer, const ForwardedHeaders& headers,
                          const TrustedProxies& trusted);

}  // namespace ringcast
