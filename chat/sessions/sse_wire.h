// The wire format of the chat's SSE and long-poll transports (proto/PROTOCOL.md, "SSE and long
// polling") that the client controls or reads: session ids and event ids as a client sends them
// back, events as the stream writes them, and the lines of a POST /sse/send body.
//
// Pure code: no session, no shard, so that it is unit-tested and fuzzed alone
// (tests/fuzz/sse_wire_fuzzer.cc). SseHub (sse_hub.h) holds the state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "chat/routed_id.h"

namespace ringcast::chat {

// Where a session lives: a session id is "<secret>~<shard>" or, in cluster mode,
// "<secret>~<shard>~<node>", the secret kSseSecretBytes from the CSPRNG (RAND_bytes) in lower
// case hex. Only the secret keeps another user from a session's events and requests: one
// session's id tells nothing of another's. The shard and node are routing, not secret.
inline constexpr size_t kSseSecretBytes = 16;
using SseSessionKey = RoutedId;  // Its node empty on a single node.
std::optional<SseSessionKey> ParseSseSessionKey(std::string_view key);
// "<session>:<n>" (an SSE event's id, and so a Last-Event-ID) → session and n.
bool ParseSseEventId(std::string_view id, std::string_view* key, uint64_t* n);
// Event `n` of session `key` as the stream writes it: its id line, then `json` as data lines.
std::string FormatSseEvent(std::string_view key, uint64_t n, std::string_view json);

// The next request of a POST /sse/send body, which holds one chat request per line (JSON text
// has no raw line break), advancing *body past it; a line's trailing CR and spaces are not
// part of it, blank lines are skipped. nullopt once the body holds no more.
std::optional<std::string_view> NextRequestLine(std::string_view* body);

}  // namespace ringcast::chat
