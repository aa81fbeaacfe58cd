#include "core/net/client_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <functional>

namespace ringcast {
namespace {

constexpr std::array<uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// Clears every bit of `address` from bit `prefix` (0..128) on: what is left names its network.
void ClearHostBits(IpAddress& address, uint32_t prefix) {
  for (uint32_t bit = prefix; bit < 128; ++bit) {
    address.bytes[bit / 8] &= uint8_t(~(0x80u >> (bit % 8)));
  }
}

std::string_view TrimSpaces(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(" \t");
  return text.substr(begin, end - begin + 1);
}

// A decimal number of at most three digits, or -1.
int ParsePrefixLength(std::string_view text) {
  if (text.empty() || text.size() > 3) return -1;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

// "'entry'" and what is wrong with it. Built by appending: GCC 12 at -O3 warns falsely
// (-Wrestrict) about assigning a literal and then appending to it.
std::string NamedEntry(std::string_view entry, std::string_view problem) {
  std::string text;
  text.reserve(entry.size() + problem.size() + 2);
  text.push_back('\'');
  text.append(entry);
  text.push_back('\'');
  text.append(problem);
  return text;
}

// A port number as text: one to five digits.
bool IsPort(std::string_view text) {
  return !text.empty() && text.size() <= 5 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// An X-Forwarded-For entry: an address, optionally with a port ("a.b.c.d:p", "[v6]" or
// "[v6]:p"), as some proxies write them.
std::optional<IpAddress> ParseForwardedEntry(std::string_view entry) {
  if (entry.front() == '[') {
    size_t close = entry.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view rest = entry.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !IsPort(rest.substr(1)))) return std::nullopt;
    return IpAddress::Parse(entry.substr(1, close - 1));
  }
  if (auto address = IpAddress::Parse(entry)) return address;
  // "a.b.c.d:port": a single colon, so no IPv6 address.
  size_t colon = entry.find(':');
  if (colon == std::string_view::npos || entry.find(':', colon + 1) != std::string_view::npos ||
      !IsPort(entry.substr(colon + 1))) {
    return std::nullopt;
  }
  auto address = IpAddress::Parse(entry.substr(0, colon));
  if (!address || !address->is_v4()) return std::nullopt;
  return address;
}

}  // namespace

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  char buffer[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buffer)) return std::nullopt;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  IpAddress address;
  in_addr v4{};
  if (inet_pton(AF_INET, buffer, &v4) == 1) {
    std::copy(kMappedPrefix.begin(), kMappedPrefix.end(), address.bytes.begin());
    std::memcpy(address.bytes.data() + 12, &v4, 4);
    return address;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, buffer, &v6) == 1) {
    std::memcpy(address.bytes.data(), &v6, 16);
    return address;
  }
  return std::nullopt;
}

bool IpAddress::is_v4() const {
  return std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), bytes.begin());
}

std::string IpAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    inet_ntop(AF_INET, bytes.data() + 12, text, sizeof(text));
  } else {
    inet_ntop(AF_INET6, bytes.data(), text, sizeof(text));
  }
  return text;
}

IpAddress IpAddress::LimitKey(uint32_t ipv6_prefix) const {
  if (is_v4() || ipv6_prefix >= 128) return *this;
  IpAddress key = *this;
  ClearHostBits(key, ipv6_prefix);
  return key;
}

size_t IpAddressHash::operator()(const IpAddress& address) const {
  return std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(address.bytes.data()), address.bytes.size()));
}

std::string AddressLimitKey(std::string_view address, uint32_t ipv6_prefix) {
  std::optional<IpAddress> parsed = IpAddress::Parse(address);
  if (!parsed) return std::string(address);
  std::string key = parsed->LimitKey(ipv6_prefix).ToString();
  if (!parsed->is_v4()) {
    key.push_back('/');
    key.append(std::to_string(std::min<uint32_t>(ipv6_prefix, 128)));
  }
  return key;
}

std::optional<TrustedProxies> TrustedProxies::Parse(std::string_view list, std::string* error) {
  TrustedProxies trusted;
  if (TrimSpaces(list).empty()) return trusted;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view entry = TrimSpaces(list.substr(start, comma - start));
    start = comma + 1;
    if (entry.empty()) {
      *error = "an empty entry (two commas in a row, or one at an end)";
      return std::nullopt;
    }
    size_t slash = entry.find('/');
    std::optional<IpAddress> base = IpAddress::Parse(entry.substr(0, slash));
    if (!base) {
      *error = NamedEntry(entry, " is not an IP address or network (a.b.c.d[/n], IPv6[/n])");
      return std::nullopt;
    }
    // Written as IPv6 (::ffff:a.b.c.d/n too), n counts the 128 bits; as IPv4, its 32.
    bool ipv6_text = entry.substr(0, slash).find(':') != std::string_view::npos;
    int max_length = ipv6_text ? 128 : 32;
    int length = max_length;
    if (slash != std::string_view::npos) {
      length = ParsePrefixLength(entry.substr(slash + 1));
      if (length < 0 || length > max_length) {
        *error = NamedEntry(entry, ": the prefix length must be 0-");
        error->append(max_length == 32 ? "32" : "128");
        return std::nullopt;
      }
    }
    Network network{*base, uint8_t(ipv6_text ? length : 96 + length)};
    ClearHostBits(network.base, network.prefix);
    trusted.networks_.push_back(network);
  }
  return trusted;
}

bool TrustedProxies::Contains(const IpAddress& address) const {
  for (const Network& network : networks_) {
    int whole = network.prefix / 8;
    if (!std::equal(network.base.bytes.begin(), network.base.bytes.begin() + whole,
                    address.bytes.begin())) {
      continue;
    }
    int rest = network.prefix % 8;
    if (rest == 0) return true;
    uint8_t mask = uint8_t(0xff00u >> rest);
    if ((address.bytes[whole] & mask) == network.base.bytes[whole]) return true;
  }
  return false;
}

ForwardedHeaders ForwardedHeaders::From(const http::Request& request,
                                        const TrustedProxies& trusted) {
  ForwardedHeaders headers;
  if (trusted.empty()) return headers;
  bool have_real_ip = false;
  for (size_t i = 0; i < request.header_count; ++i) {
    const http::Header& header = request.headers[i];
    if (http::EqualsIgnoreCase(header.name, "X-Forwarded-For")) {
      // Several lines of a list header mean the same as one joined by commas (RFC 9110 §5.3).
      if (!headers.forwarded_for.empty()) headers.forwarded_for += ',';
      headers.forwarded_for.append(header.value);
    } else if (!have_real_ip && http::EqualsIgnoreCase(header.name, "X-Real-IP")) {
      headers.real_ip.assign(header.value);
      have_real_ip = true;
    }
  }
  return headers;
}

std::string ClientAddress(std::string_view peer, const ForwardedHeaders& headers,
                          const TrustedProxies& trusted) {
  std::optional<IpAddress> peer_address = IpAddress::Parse(peer);
  if (!peer_address) return std::string(peer);
  if (!trusted.Contains(*peer_address)) return peer_address->ToString();

  IpAddress reached = *peer_address;  // The farthest hop known to be a trusted proxy.
  bool any_entry = false;
  std::string_view list = headers.forwarded_for;
  size_t end = list.size();
  while (true) {
    size_t comma = end == 0 ? std::string_view::npos : list.rfind(',', end - 1);
    size_t begin = comma == std::string_view::npos ? 0 : comma + 1;
    std::string_view entry = TrimSpaces(list.substr(begin, end - begin));
    if (!entry.empty()) {
      any_entry = true;
      std::optional<IpAddress> hop = ParseForwardedEntry(entry);
      if (!hop) return reached.ToString();
      if (!trusted.Contains(*hop)) return hop->ToString();
      reached = *hop;
    }
    if (comma == std::string_view::npos) break;
    end = comma;
  }
  if (any_entry) return reached.ToString();
  if (std::optional<IpAddress> real_ip = IpAddress::Parse(TrimSpaces(headers.real_ip))) {
    return real_ip->ToString();
  }
  return peer_address->ToString();
}

}  // namespace ringcast
