// Client side of the WebSocket opening handshake (RFC 6455 §4.1): build the upgrade request,
// check the server's 101 response. Pure functions, no I/O.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringcast::bench {

// base64 of 16 bytes (§4.1: the nonce is 16 random bytes, base64-encoded): 24 characters.
std::string EncodeKey(const std::array<uint8_t, 16>& nonce);

// "GET target HTTP/1.1" with Host, Upgrade, Connection, Sec-WebSocket-Key and -Version: 13, and
// Sec-WebSocket-Extensions: `extensions` unless empty.
std::string BuildUpgradeRequest(std::string_view host_header, std::string_view target,
                                std::string_view key, std::string_view extensions = {});

// The permessage-deflate offer of --deflate (RFC 7692): both directions without context
// takeover, so that each message is compressed and inflated on its own (one zlib stream per
// client thread) and a server that would keep context declines instead.
inline constexpr std::string_view kDeflateOffer =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

enum class UpgradeStatus : uint8_t { kNeedMore, kOk, kError };

struct UpgradeResult {
  UpgradeStatus status = UpgradeStatus::kNeedMore;
  size_t consumed = 0;  // kOk: bytes of the response head; what follows is WebSocket frames.
  std::string error;    // kError: what was wrong, with the status line when there was one.
  // kOk: the server agreed to permessage-deflate (its Sec-WebSocket-Extensions names it); a
  // server that agrees without server_no_context_takeover is an error (kDeflateOffer asked).
  bool deflate = false;
};

// Checks the response head at the start of `input` (§4.1, the client's checks 1-4): status 101,
// Upgrade: websocket, Connection: upgrade, Sec-WebSocket-Accept equal to the accept value for
// `key`. kNeedMore until the blank line arrives; kError past kMaxResponseHead bytes without one.
inline constexpr size_t kMaxResponseHead = 16384;
UpgradeResult ParseUpgradeResponse(std::string_view input, std::string_view key);

}  // namespace ringcast::bench
