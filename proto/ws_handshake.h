// WebSocket opening handshake, server side (RFC 6455 §4.2).
#pragma once

#include <array>
#include <string_view>

#include "proto/http_parser.h"

namespace ringcast::ws {

inline constexpr size_t kAcceptKeyLength = 28;  // base64 of a 20-byte SHA-1.

struct HandshakeResult {
  // 0 when the request is a valid upgrade; otherwise the HTTP status to answer:
  // 405 (method is not GET), 426 (no Upgrade: websocket / Connection: upgrade tokens, or
  // Sec-WebSocket-Version is not 13; answer with "Sec-WebSocket-Version: 13"),
  // 400 (missing or malformed Sec-WebSocket-Key: must be base64 of exactly 16 bytes; HTTP/1.0).
  int error_status = 0;
  std::string_view error_reason;                // Static string.
  std::array<char, kAcceptKeyLength> accept{};  // Sec-WebSocket-Accept when error_status == 0.
};

// Validates an upgrade request per RFC 6455 §4.2.1. Upgrade/Connection are matched as
// case-insensitive comma-separated tokens. Does not look at the path: routing is the caller's.
HandshakeResult ValidateUpgrade(const http::Request& request);

// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), RFC 6455 §4.2.2 step 5.4.
std::array<char, kAcceptKeyLength> ComputeAcceptKey(std::string_view client_key);

}  // namespace ringcast::ws
