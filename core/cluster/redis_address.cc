// RedisAddress and RedisEndpoint (redis_bus.h): the --redis URL forms, parsed.
#include <charconv>
#include <optional>
#include <string>
#include <string_view>

#include "core/cluster/redis_bus.h"

namespace ringcast::cluster {

namespace {

// host, host:port, [v6] or [v6]:port; `port` keeps its default when none is given.
bool ParseHostPort(std::string_view text, RedisEndpoint* out, std::string* error) {
  std::string_view port;
  if (text.starts_with('[')) {  // [::1]:6379
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      *error = "unterminated [ in the Redis host";
      return false;
    }
    out->host = std::string(text.substr(1, close - 1));
    text.remove_prefix(close + 1);
    if (text.starts_with(':')) {
      port = text.substr(1);
    } else if (!text.empty()) {
      *error = "bad text after ] in the Redis host";
      return false;
    }
  } else {
    size_t colon = text.rfind(':');
    out->host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) port = text.substr(colon + 1);
  }
  if (out->host.empty()) {
    *error = "the Redis URL names no host";
    return false;
  }
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      *error = "bad port '" + std::string(port) + "' in the Redis URL";
      return false;
    }
    out->port = uint16_t(value);
  }
  return true;
}

bool ParseDb(std::string_view db, int* out, std::string* error) {
  auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), *out);
  if (ec != std::errc() || end != db.data() + db.size() || *out < 0) {
    *error = "bad database number '" + std::string(db) + "' in the Redis URL";
    return false;
  }
  return true;
}

// RFC 3986 section 2.1 percent-encoding.
std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= text.size()) return std::nullopt;
    auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
    if (ec != std::errc() || end != text.data() + i + 3) return std::nullopt;
    out.push_back(char(value));
    i += 2;
  }
  return out;
}

void SplitCredentials(std::string_view credentials, std::string* user, std::string* password) {
  size_t colon = credentials.find(':');
  if (colon == std::string_view::npos) {
    *password = std::string(credentials);
  } else {
    *user = std::string(credentials.substr(0, colon));
    *password = std::string(credentials.substr(colon + 1));
  }
}

std::optional<RedisAddress> ParseSentinelUrl(std::string_view url, std::string* error) {
  RedisAddress address;
  std::string_view query;
  if (size_t question = url.find('?'); question != std::string_view::npos) {
    query = url.substr(question + 1);
    url = url.substr(0, question);
  }
  if (size_t at = url.rfind('@'); at != std::string_view::npos) {
    std::string user, password;
    SplitCredentials(url.substr(0, at), &user, &password);
    auto decoded_user = PercentDecode(user);
    auto decoded_password = PercentDecode(password);
    if (!decoded_user || !decoded_password) {
      *error = "bad %-escape in the Redis URL's credentials";
      return std::nullopt;
    }
    address.user = std::move(*decoded_user);
    address.password = std::move(*decoded_password);
    url.remove_prefix(at + 1);
  }
  const size_t slash = url.find('/');
  std::string_view hosts = url.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : url.substr(slash + 1);
  while (!hosts.empty()) {
    const size_t comma = hosts.find(',');
    RedisEndpoint sentinel{.port = 26379};
    if (!ParseHostPort(hosts.substr(0, comma), &sentinel, error)) return std::nullopt;
    address.sentinels.push_back(std::move(sentinel));
    if (comma == std::string_view::npos) break;
    hosts.remove_prefix(comma + 1);
    if (hosts.empty()) {
      *error = "empty sentinel after ',' in the Redis URL";
      return std::nullopt;
    }
  }
  if (address.sentinels.empty()) {
    *error = "the redis+sentinel URL names no sentinel";
    return std::nullopt;
  }
  const size_t db_slash = path.find('/');
  address.master_name = std::string(path.substr(0, db_slash));
  if (address.master_name.empty()) {
    *error = "the redis+sentinel URL names no master (redis+sentinel://host:port/MASTER-NAME)";
    return std::nullopt;
  }
  if (db_slash != std::string_view::npos &&
      !ParseDb(path.substr(db_slash + 1), &address.db, error)) {
    return std::nullopt;
  }
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    auto value = PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (!value) {
      *error = "bad %-escape in the Redis URL's query";
      return std::nullopt;
    }
    if (key == "sentinel_user") {
      address.sentinel_user = std::move(*value);
    } else if (key == "sentinel_password") {
      address.sentinel_password = std::move(*value);
    } else {
      *error = "unknown parameter '" + std::string(key) +
               "' in the Redis URL (sentinel_user, sentinel_password)";
      return std::nullopt;
    }
  }
  address.host.clear();
  return address;
}

}  // namespace

std::string RedisEndpoint::ToString() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

std::optional<RedisAddress> RedisAddress::Parse(std::string_view url, std::string* error) {
  constexpr std::string_view kScheme = "redis://";
  constexpr std::string_view kSentinelScheme = "redis+sentinel://";
  if (url.starts_with(kSentinelScheme)) {
    return ParseSentinelUrl(url.substr(kSentinelScheme.size()), error);
  }
  if (!url.starts_with(kScheme)) {
    *error =
        "a Redis URL starts with redis:// (redis://host:port[/db]) or redis+sentinel:// "
        "(redis+sentinel://host:port[,host:port...]/MASTER-NAME[/db])";
    return std::nullopt;
  }
  url.remove_prefix(kScheme.size());
  RedisAddress address;
  if (size_t at = url.rfind('@'); at != std::string_view::npos) {
    SplitCredentials(url.substr(0, at), &address.user, &address.password);
    url.remove_prefix(at + 1);
  }
  std::string_view db;
  if (size_t slash = url.find('/'); slash != std::string_view::npos) {
    db = url.substr(slash + 1);
    url = url.substr(0, slash);
  }
  RedisEndpoint endpoint{.port = 6379};
  if (!ParseHostPort(url, &endpoint, error)) return std::nullopt;
  address.host = std::move(endpoint.host);
  address.port = endpoint.port;
  if (!db.empty() && !ParseDb(db, &address.db, error)) return std::nullopt;
  return address;
}

std::string RedisAddress::ToString() const {
  if (sentinel()) {
    std::string out = "redis+sentinel://";
    for (size_t i = 0; i < sentinels.size(); ++i) {
      if (i > 0) out += ",";
      out += sentinels[i].ToString();
    }
    return out + "/" + master_name + "/" + std::to_string(db);
  }
  return RedisEndpoint{host, port}.ToString() + "/" + std::to_string(db);
}

}  // namespace ringcast::cluster
