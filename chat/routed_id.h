// Ids that name where what they stand for is held, so that any node routes a request to it
// without asking anyone: "<random lower-case hex><sep><shard>", then "<sep><node>" in cluster
// mode. A call's id ('/', chat/calls/call_mail.h) and an SSE session's ('~',
// chat/sessions/sse_wire.h) are such ids. Pure code.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>

namespace ringcast::chat {

struct RoutedId {
  uint32_t shard = 0;
  std::string_view node;  // Empty: held on a single node.
};

// `id` as "<hex_digits lower-case hex digits><sep><shard>[<sep><node>]"; nullopt for anything
// else. The node is a view into `id`.
inline std::optional<RoutedId> ParseRoutedId(std::string_view id, size_t hex_digits, char sep) {
  if (id.size() < hex_digits + 2 || id[hex_digits] != sep) return std::nullopt;
  for (char c : id.substr(0, hex_digits)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  std::string_view rest = id.substr(hex_digits + 1);
  RoutedId parsed;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), parsed.shard);
  if (ec != std::errc() || end == rest.data()) return std::nullopt;
  rest.remove_prefix(size_t(end - rest.data()));
  if (rest.empty()) return parsed;
  if (rest.size() < 2 || rest[0] != sep) return std::nullopt;
  parsed.node = rest.substr(1);
  return parsed;
}

}  // namespace ringcast::chat
