#include "core/runtime/access_log.h"

#include <time.h>

#include <utility>

#include "core/log.h"

namespace ringcast {
namespace {

int64_t MonotonicNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

std::string_view OrDash(const std::string& text) {
  return text.empty() ? std::string_view("-") : std::string_view(text);
}

// Long enough for any route of ours; a longer path is cut, so one line stays one line.
constexpr size_t kMaxPath = 256;

}  // namespace

AccessLog::Entry* AccessLog::Find(uint32_t slot, uint32_t generation) {
  if (slot >= entries_.size() || entries_[slot].generation != generation) return nullptr;
  return &entries_[slot];
}

AccessLog::Entry& AccessLog::Fresh(uint32_t slot, uint32_t generation) {
  if (slot >= entries_.size()) entries_.resize(slot + 1);
  Entry& entry = entries_[slot];
  if (entry.generation != generation) {  // A new connection in this slot.
    entry.generation = generation;
    entry.websocket = entry.close_known = entry.closed_by_server = false;
    entry.close_code = 0;
    entry.messages_in = entry.messages_out = entry.bytes_in = entry.bytes_out = 0;
    entry.address.clear();  // Strings keep their capacity for the slot's next connection.
    entry.user.clear();
  }
  return entry;
}

bool AccessLog::NeedsAddress(uint32_t slot, uint32_t generation) {
  Entry* entry = Find(slot, generation);
  return entry == nullptr || entry->address.empty();
}

void AccessLog::OnRequest(uint32_t slot, uint32_t generation, std::string_view method,
                          std::string_view target, uint64_t bytes_in, const std::string& address) {
  Entry& entry = Fresh(slot, generation);
  if (!address.empty()) entry.address = address;
  entry.method.assign(method);
  std::string_view path = target.substr(0, target.find('?'));
  entry.path.assign(path.substr(0, kMaxPath));
  entry.request_bytes = bytes_in;
  entry.start_ns = MonotonicNs();
}

void AccessLog::OnAnswer(uint32_t slot, uint32_t generation, int status, uint64_t bytes_out) {
  Entry* entry = Find(slot, generation);
  if (entry == nullptr) return;
  if (status == 101) {
    entry->websocket = true;
    return;
  }
  LogRecord(LogLevel::kInfo, "access.http")
      .Add("client", OrDash(entry->address))
      .Add("method", entry->method)
      .Add("path", entry->path)
      .Add("user", OrDash(entry->user))
      .Add("status", static_cast<uint64_t>(status))
      .AddMillis("duration_ms", MonotonicNs() - entry->start_ns)
      .Add("bytes_in", entry->request_bytes)
      .Add("bytes_out", bytes_out)
      .Emit(LogStream::kAccess);
}

void AccessLog::OnFramingError(uint32_t slot, uint32_t generation, int status, uint64_t bytes_out,
                               const std::string& address) {
  Entry& entry = Fresh(slot, generation);
  if (!address.empty()) entry.address = address;
  LogRecord(LogLevel::kInfo, "access.http")
      .Add("client", OrDash(entry.address))
      .Add("method", "-")
      .Add("path", "-")
      .Add("status", static_cast<uint64_t>(status))
      .Add("bytes_out", bytes_out)
      .Emit(LogStream::kAccess);
}

void AccessLog::OnMessageIn(uint32_t slot, uint32_t generation) {
  if (Entry* entry = Find(slot, generation)) ++entry->messages_in;
}

void AccessLog::OnMessageOut(uint32_t slot, uint32_t generation) {
  if (Entry* entry = Find(slot, generation)) ++entry->messages_out;
}

void AccessLog::OnBytes(uint32_t slot, uint32_t generation, uint64_t in, uint64_t out) {
  Entry* entry = Find(slot, generation);
  if (entry == nullptr || !entry->websocket) return;
  entry->bytes_in += in;
  entry->bytes_out += out;
}

void AccessLog::OnClose(uint32_t slot, uint32_t generation, uint16_t code, bool by_server) {
  Entry* entry = Find(slot, generation);
  if (entry == nullptr || entry->close_known) return;
  entry->close_known = true;
  entry->close_code = code;
  entry->closed_by_server = by_server;
}

void AccessLog::OnUser(uint32_t slot, uint32_t generation, std::string user) {
  if (Entry* entry = Find(slot, generation)) entry->user = std::move(user);
}

void AccessLog::OnRelease(uint32_t slot, uint32_t generation) {
  Entry* entry = Find(slot, generation);
  if (entry == nullptr) return;
  if (entry->websocket) {
    LogRecord(LogLevel::kInfo, "access.ws")
        .Add("client", OrDash(entry->address))
        .Add("path", entry->path)
        .Add("user", OrDash(entry->user))
        .AddMillis("duration_ms", MonotonicNs() - entry->start_ns)
        .Add("messages_in", entry->messages_in)
        .Add("messages_out", entry->messages_out)
        .Add("bytes_in", entry->bytes_in)
        .Add("bytes_out", entry->bytes_out)
        // RFC 6455 §7.1.5: 1006 stands for "no close frame was exchanged".
        .Add("close_code", uint64_t{entry->close_known ? entry->close_code : uint16_t{1006}})
        .Add("closed_by", !entry->close_known       ? "-"
                          : entry->closed_by_server ? "server"
                                                    : "client")
        .Emit(LogStream::kAccess);
  }
  entry->generation = 0;  // Generations start at 1: no later event matches.
  entry->websocket = false;
}

}  // namespace ringcast
