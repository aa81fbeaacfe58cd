// A call_signal's payload (proto/PROTOCOL.md, "Calls: signalling"): the `sdp` or `candidate`
// object one device relays to another, read whole and written anew.
//
// Pure code. The server never forwards a client's bytes into another user's events: the object
// is parsed to its last token (simdjson On Demand) and re-encoded with JsonWriter, so what the
// peer gets is JSON the server wrote (no whitespace, every string escaped: no raw CR or LF can
// reach an SSE stream, a long-poll answer or a STOMP frame), and invalid JSON is refused to its
// sender. Bounds keep the work per request small and fixed.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ringcast::chat {

// Its size is the request's to bound (RequestLimits::kMaxCallSignal, of the text written anew).
struct SignalPayloadLimits {
  // Nesting (the object itself is level 1): WebRTC's objects are flat.
  static constexpr size_t kMaxDepth = 8;
  // Values of every kind, members' and elements' together (RTCIceCandidateInit has four).
  static constexpr size_t kMaxValues = 256;
};

// Reads `value` (the request's field `key`) as an object and writes its JSON text anew into
// *out. nullopt on success; else the fault for the client (*out unspecified). *malformed is set
// when the fault is that the text is not JSON: the request's document cannot be read further.
std::optional<std::string> ReadSignalPayload(simdjson::ondemand::value value, std::string_view key,
                                             std::string* out, bool* malformed);

}  // namespace ringcast::chat
