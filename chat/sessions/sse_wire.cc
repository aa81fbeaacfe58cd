#include "chat/sessions/sse_wire.h"

#include <charconv>

namespace ringcast::chat {

std::optional<SseSessionKey> ParseSseSessionKey(std::string_view key) {
  return ParseRoutedId(key, 2 * kSseSecretBytes, '~');
}

bool ParseSseEventId(std::string_view id, std::string_view* key, uint64_t* n) {
  const size_t colon = id.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view number = id.substr(colon + 1);
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), *n);
  if (ec != std::errc() || end != number.data() + number.size() || number.empty()) return false;
  *key = id.substr(0, colon);
  return ParseSseSessionKey(*key).has_value();
}

std::string FormatSseEvent(std::string_view key, uint64_t n, std::string_view json) {
  std::string out;
  out.reserve(json.size() + key.size() + 32);
  out.append("id: ").append(key).append(":").append(std::to_string(n));
  // One data line per line of the JSON. JsonWriter writes no line break (and relayed JSON is
  // written anew: calls/signal_payload.h), but should one ever come, it must not end the data
  // line early and start a field of its own: HTML's event stream format ends a line at CR LF,
  // at LF and at a lone CR alike, and a client joins data lines with LF.
  std::string_view rest = json;
  for (;;) {
    const size_t end = rest.find_first_of("\r\n");
    out.append("\ndata: ").append(rest.substr(0, end));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(rest.compare(end, 2, "\r\n") == 0 ? end + 2 : end + 1);
  }
  out.append("\n\n");
  return out;
}

std::optional<std::string_view> NextRequestLine(std::string_view* body) {
  while (!body->empty()) {
    const size_t newline = body->find('\n');
    std::string_view line = body->substr(0, newline);
    *body = newline == std::string_view::npos ? std::string_view() : body->substr(newline + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (!line.empty()) return line;
  }
  return std::nullopt;
}

}  // namespace ringcast::chat
