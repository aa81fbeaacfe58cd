// WebSocket framing (RFC 6455 §5.2 base framing, §5.3 masking). See ws_frame.h.
#include "proto/ws_frame.h"

#include <bit>
#include <cstring>

namespace ringcast::ws {

bool IsValidWireCloseCode(uint16_t code) {
  // §7.4.1 defines 1000-1011 (1004 reserved; 1005, 1006 and 1015 must never be sent), the IANA
  // registry adds 1012-1014 (§11.7); 3000-3999 are registered by libraries and 4000-4999 are
  // private use (§7.4.2). Everything else is invalid on the wire.
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

HeaderResult ParseFrameHeader(std::span<const uint8_t> data, FrameHeader* out) {
  HeaderResult result;  // kNeedMore.
  if (data.size() < 2) return result;
  const uint8_t b0 = data[0];
  const uint8_t b1 = data[1];
  const bool masked = (b1 & 0x80) != 0;
  const uint8_t len7 = b1 & 0x7F;
  const size_t length_bytes = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  const size_t header_size = 2 + length_bytes + (masked ? 4 : 0);
  if (data.size() < header_size) return result;

  uint64_t payload_size = len7;
  if (length_bytes != 0) {
    payload_size = 0;
    for (size_t i = 0; i < length_bytes; ++i) payload_size = (payload_size << 8) | data[2 + i];
    // §5.2: "the minimal number of bytes MUST be used to encode the length", and the most
    // significant bit of a 64-bit length MUST be 0.
    if (length_bytes == 8 && (payload_size >> 63) != 0) {
      result.status = HeaderStatus::kError;
      result.error_reason = "64-bit payload length with the top bit set";
      return result;
    }
    if ((length_bytes == 2 && payload_size < 126) ||
        (length_bytes == 8 && payload_size <= 0xFFFF)) {
      result.status = HeaderStatus::kError;
      result.error_reason = "non-minimal payload length encoding";
      return result;
    }
  }

  out->fin = (b0 & 0x80) != 0;
  out->rsv = static_cast<uint8_t>((b0 >> 4) & 0x7);
  out->opcode = static_cast<Opcode>(b0 & 0x0F);  // May be a reserved value; the reader checks.
  out->masked = masked;
  if (masked) {
    std::memcpy(out->mask, data.data() + 2 + length_bytes, 4);
  } else {
    std::memset(out->mask, 0, 4);
  }
  out->header_size = static_cast<uint8_t>(header_size);
  out->payload_size = payload_size;
  result.status = HeaderStatus::kOk;
  return result;
}

size_t EncodeHeader(uint8_t* out, Opcode opcode, bool fin, uint64_t payload_size,
                    const uint8_t* mask_key, bool compressed) {
  out[0] = static_cast<uint8_t>((fin ? 0x80 : 0x00) | (compressed ? kRsv1Bit : 0x00) |
                                static_cast<uint8_t>(opcode));
  const uint8_t mask_bit = mask_key != nullptr ? 0x80 : 0x00;
  size_t n;
  if (payload_size < 126) {
    out[1] = static_cast<uint8_t>(mask_bit | payload_size);
    n = 2;
  } else if (payload_size <= 0xFFFF) {
    out[1] = mask_bit | 126;
    out[2] = static_cast<uint8_t>(payload_size >> 8);
    out[3] = static_cast<uint8_t>(payload_size);
    n = 4;
  } else {
    out[1] = mask_bit | 127;
    for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<uint8_t>(payload_size >> (56 - 8 * i));
    n = 10;
  }
  if (mask_key != nullptr) {
    std::memcpy(out + n, mask_key, 4);
    n += 4;
  }
  return n;
}

void CopyMasked(uint8_t* out, const uint8_t* in, size_t size, const uint8_t key[4],
                size_t key_offset) {
  // §5.3: octet i is XORed with key[i mod 4]. Starting mid-key at `key_offset`, rotate the key so
  // that byte 0 of `in` pairs with key[key_offset], and replicate it into a 64-bit word. Eight
  // is a multiple of four, so the same pattern lines up for every word that follows; memcpy keeps
  // the unaligned loads and stores legal and compiles to plain moves.
  uint32_t k;
  std::memcpy(&k, key, 4);
  const int shift = static_cast<int>(8 * (key_offset & 3));
  // Memory order is what matters: moving key[offset] to the first byte in memory is a right
  // rotation of the loaded value on a little-endian machine and a left one on a big-endian one.
  k = std::endian::native == std::endian::little ? std::rotr(k, shift) : std::rotl(k, shift);
  const uint64_t pattern = (uint64_t{k} << 32) | k;

  size_t i = 0;
  // Four independent words per iteration: lets the compiler keep several loads in flight (and
  // vectorize at -O2 with GCC 12's very-cheap cost model).
  for (; i + 32 <= size; i += 32) {
    uint64_t w[4];
    std::memcpy(w, in + i, 32);
    w[0] ^= pattern;
    w[1] ^= pattern;
    w[2] ^= pattern;
    w[3] ^= pattern;
    std::memcpy(out + i, w, 32);
  }
  for (; i + 8 <= size; i += 8) {
    uint64_t w;
    std::memcpy(&w, in + i, 8);
    w ^= pattern;
    std::memcpy(out + i, &w, 8);
  }
  // Tail: i is a multiple of 8 here, so byte i pairs with byte (i mod 8) of the pattern.
  uint8_t rotated[8];
  std::memcpy(rotated, &pattern, 8);
  for (; i < size; ++i) out[i] = in[i] ^ rotated[i & 7];
}

size_t EncodeClosePayload(uint8_t* out, uint16_t code, std::string_view reason) {
  // §5.5: control payloads are at most 125 bytes, 2 of which are the code (§5.5.1).
  constexpr size_t kMaxReason = kMaxControlPayload - 2;
  out[0] = static_cast<uint8_t>(code >> 8);
  out[1] = static_cast<uint8_t>(code);
  size_t n = reason.size();
  if (n > kMaxReason) {
    // §5.5.1: the reason is UTF-8. Cut before the code point that straddles the limit: back up
    // over continuation bytes (10xxxxxx) so the byte at the cut is a lead or ASCII byte.
    n = kMaxReason;
    while (n > 0 && (static_cast<uint8_t>(reason[n]) & 0xC0) == 0x80) --n;
  }
  if (n != 0) std::memcpy(out + 2, reason.data(), n);
  return 2 + n;
}

}  // namespace ringcast::ws
