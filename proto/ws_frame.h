// WebSocket framing (RFC 6455 §5): header parsing, header encoding, masking.
//
// Pure code: no I/O, no allocation. The message-level state machine (fragmentation, control
// frames, UTF-8, limits) is MessageReader in ws_reader.h; this file is the byte layout only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ringcast::ws {

enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

inline constexpr bool IsControl(Opcode op) { return (static_cast<uint8_t>(op) & 0x8) != 0; }

// Close status codes (RFC 6455 §7.4.1; 1012-1014 from the IANA registry).
enum class CloseCode : uint16_t {
  kNormal = 1000,
  kGoingAway = 1001,
  kProtocolError = 1002,
  kUnsupportedData = 1003,
  kNoStatus = 1005,  // Never on the wire: "the close frame had no code".
  kAbnormal = 1006,  // Never on the wire: "the connection dropped without a close frame".
  kInvalidPayload = 1007,
  kPolicyViolation = 1008,
  kMessageTooBig = 1009,
  kMandatoryExtension = 1010,
  kInternalError = 1011,
  kServiceRestart = 1012,
  kTryAgainLater = 1013,
  kBadGateway = 1014,
};

// True for codes an endpoint may send in a close frame (§7.4.1, §7.4.2): 1000-1003, 1007-1014,
// 3000-4999.
bool IsValidWireCloseCode(uint16_t code);

inline constexpr size_t kMaxHeaderSize = 14;  // 2 + 8 (64-bit length) + 4 (mask key).
inline constexpr size_t kMaxControlPayload = 125;

struct FrameHeader {
  bool fin = false;
  uint8_t rsv = 0;  // The three RSV bits, shifted down to 0..7.
  Opcode opcode = Opcode::kContinuation;
  bool masked = false;
  uint8_t mask[4] = {};
  uint8_t header_size = 0;  // Bytes the header occupies on the wire.
  uint64_t payload_size = 0;
};

enum class HeaderStatus : uint8_t { kOk, kNeedMore, kError };

struct HeaderResult {
  HeaderStatus status = HeaderStatus::kNeedMore;
  CloseCode error_code = CloseCode::kProtocolError;  // kError only.
  std::string_view error_reason;                     // kError only; static string.
};

// Parses one frame header from the start of `data`. Checks only what the header alone decides:
// a non-minimal length encoding or a 64-bit length with the top bit set → 1002. Everything
// contextual (RSV, opcodes, masking, fragmentation, sizes) is MessageReader's job.
HeaderResult ParseFrameHeader(std::span<const uint8_t> data, FrameHeader* out);

// Size of a header for a payload of `payload_size` bytes.
constexpr size_t HeaderSize(uint64_t payload_size, bool masked) {
  return (payload_size < 126 ? 2 : payload_size <= 0xFFFF ? 4 : 10) + (masked ? 4 : 0);
}

// Writes a header into `out` (at least kMaxHeaderSize bytes) and returns its size. With
// `mask_key` non-null the MASK bit is set and the 4 key bytes follow the length (clients).
// `compressed` sets RSV1: the first frame of a permessage-deflate message (RFC 7692 §6).
size_t EncodeHeader(uint8_t* out, Opcode opcode, bool fin, uint64_t payload_size,
                    const uint8_t* mask_key = nullptr, bool compressed = false);
inline constexpr uint8_t kRsv1Bit = 0x40;  // In the header's first byte.

// Writes `size` bytes of `in` XORed with the 4-byte mask key to `out`, starting at position
// `key_offset` (mod 4) of the key, so a payload can be unmasked in pieces. Word-at-a-time; the
// same call masks and unmasks. `out` is `in` (in place) or does not overlap it: unmasking
// straight into an outgoing buffer is one pass over the bytes instead of two.
void CopyMasked(uint8_t* out, const uint8_t* in, size_t size, const uint8_t key[4],
                size_t key_offset = 0);
inline void ApplyMask(uint8_t* data, size_t size, const uint8_t key[4], size_t key_offset = 0) {
  CopyMasked(data, data, size, key, key_offset);
}

// A payload still masked as it arrived (§5.3), with its key.
struct MaskedPayload {
  std::span<const uint8_t> bytes;
  uint8_t key[4] = {};
};

// Writes a close payload (2-byte big-endian code + reason, reason truncated so the payload fits
// in 125 bytes at a UTF-8 boundary) into `out` (at least 125 bytes); returns its size.
size_t EncodeClosePayload(uint8_t* out, uint16_t code, std::string_view reason);

}  // namespace ringcast::ws
