#include "chat/calls/call_mail.h"

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

std::optional<CallHolder> ParseCallId(std::string_view id) { return ParseRoutedId(id, 16, '/'); }

uint64_t MakeDeviceId(uint64_t random, uint32_t shard) {
  // 45 random bits above the shard's byte: below 2^53, and never 0.
  const uint64_t high = (random & ((uint64_t{1} << 45) - 1)) | 1;
  return (high << 8) | (shard & 0xff);
}

}  // namespace ringcast::chat
