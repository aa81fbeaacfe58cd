#include "chat/calls/call_mail.h"

#include <charconv>
#include <cstdio>

namespace ringcast::chat {

std::string MakeCallId(uint64_t random, uint32_t shard, std::string_view node) {
  char head[40];
  const int n =
      std::snprintf(head, sizeof head, "%016llx/%u", static_cast<unsigned long long>(random),
                    static_cast<unsigned>(shard));
  std::string id(head, size_t(n));
  if (!node.empty()) {
    id += '/';
    id += node;
  }
  return id;
}

std::optional<CallHolder> ParseCallId(std::string_view id) {
  if (id.size() < 18 || id[16] != '/') return std::nullopt;
  for (char c : id.substr(0, 16)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  std::string_view rest = id.substr(17);
  CallHolder holder;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), holder.shard);
  if (ec != std::errc() || end == rest.data()) return std::nullopt;
  rest.remove_prefix(size_t(end - rest.data()));
  if (rest.empty()) return holder;
  if (rest.size() < 2 || rest[0] != '/') return std::nullopt;
  holder.node = rest.substr(1);
  return holder;
}

uint64_t MakeDeviceId(uint64_t random, uint32_t shard) {
  // 45 random bits above the shard's byte: below 2^53, and never 0.
  const uint64_t high = (random & ((uint64_t{1} << 45) - 1)) | 1;
  return (high << 8) | (shard & 0xff);
}

}  // namespace ringcast::chat
