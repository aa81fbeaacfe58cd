#include "tools/bench/url.h"

#include <charconv>

namespace ringcast::bench {

std::string WsUrl::ToString() const {
  return (tls ? "wss://" : "ws://") + host + ":" + std::to_string(port) + target;
}

std::string WsUrl::HostHeader() const {
  std::string out = host;
  if (port != (tls ? 443 : 80)) {
    // Two appends: `":" + std::to_string(...)` draws GCC 12's false -Wrestrict at -O3 (bug 105329).
    out += ':';
    out += std::to_string(port);
  }
  return out;
}

bool ParseWsUrl(std::string_view text, WsUrl* out, std::string* error) {
  const bool tls = text.starts_with("wss://");
  if (!tls && !text.starts_with("ws://")) {
    *error = "URL must start with ws:// or wss:// (got '" + std::string(text) + "')";
    return false;
  }
  std::string_view rest = text.substr(tls ? 6 : 5);
  const size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  std::string_view target = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    *error = "user info in the URL is not supported";
    return false;
  }
  WsUrl url;
  url.tls = tls;
  url.port = tls ? 443 : 80;
  const size_t colon = authority.rfind(':');
  if (authority.starts_with('[')) {
    *error = "IPv6 targets are not supported";
    return false;
  }
  if (colon != std::string_view::npos) {
    std::string_view port_text = authority.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
        port == 0 || port > 65535) {
      *error = "bad port '" + std::string(port_text) + "' in URL";
      return false;
    }
    url.port = static_cast<uint16_t>(port);
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) {
    *error = "URL has no host";
    return false;
  }
  url.host = std::string(authority);
  // Built by appending: GCC 12 at -O3 warns falsely (-Wrestrict) about "/" + std::string here.
  url.target.clear();
  url.target.reserve(target.size() + 1);
  if (target.empty() || target.front() == '?') url.target.push_back('/');
  url.target.append(target);
  if (url.target.find('#') != std::string::npos) {
    *error = "URL fragments are not allowed in a WebSocket URL (RFC 6455 §3)";
    return false;
  }
  *out = std::move(url);
  return true;
}

bool ParseWsUrls(const std::vector<std::string>& texts, std::vector<WsUrl>* out,
                 std::string* error) {
  if (texts.empty()) {
    *error = "no server URL given";
    return false;
  }
  std::vector<WsUrl> urls(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    if (!ParseWsUrl(texts[i], &urls[i], error)) return false;
    if (urls[i].target != urls[0].target) {
      *error = "every server URL must have the same path (" + texts[0] + " has '" + urls[0].target +
               "', " + texts[i] + " has '" + urls[i].target + "')";
      return false;
    }
    if (urls[i].tls != urls[0].tls) {
      *error = "every server URL must use the same scheme (ws:// or wss://, for TLS)";
      return false;
    }
  }
  *out = std::move(urls);
  return true;
}

bool ParseIpv4(std::string_view text, uint32_t* out) {
  uint32_t address = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (text.empty() || text.front() != '.') return false;
      text.remove_prefix(1);
    }
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    const size_t digits = static_cast<size_t>(end - text.data());
    if (ec != std::errc() || digits == 0 || digits > 3 || value > 255) return false;
    address = (address << 8) | value;
    text.remove_prefix(digits);
  }
  if (!text.empty()) return false;
  *out = address;
  return true;
}

std::string Ipv4ToString(uint32_t address) {
  return std::to_string(address >> 24) + "." + std::to_string((address >> 16) & 0xFF) + "." +
         std::to_string((address >> 8) & 0xFF) + "." + std::to_string(address & 0xFF);
}

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

bool ParseSourceList(std::string_view text, std::vector<uint32_t>* out, std::string* error) {
  std::vector<uint32_t> result;
  text = Trim(text);
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view item = Trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const size_t dash = item.find('-');
    uint32_t first = 0;
    uint32_t last = 0;
    if (dash == std::string_view::npos) {
      if (!ParseIpv4(item, &first)) {
        *error = "bad source address '" + std::string(item) + "'";
        return false;
      }
      last = first;
    } else if (!ParseIpv4(Trim(item.substr(0, dash)), &first) ||
               !ParseIpv4(Trim(item.substr(dash + 1)), &last)) {
      *error = "bad source range '" + std::string(item) + "' (expected A.B.C.D-A.B.C.D)";
      return false;
    }
    if (last < first) {
      *error = "source range '" + std::string(item) + "' ends before it starts";
      return false;
    }
    if (uint64_t{last} - first + 1 + result.size() > kMaxSources) {
      *error = "more than " + std::to_string(kMaxSources) + " source addresses";
      return false;
    }
    for (uint64_t a = first; a <= last; ++a) result.push_back(static_cast<uint32_t>(a));
  }
  *out = std::move(result);
  return true;
}

}  // namespace ringcast::bench
