// UTF-8 validation (RFC 3629 §3, §4). See utf8.h.
#include "proto/utf8.h"

#include <simdjson.h>

#include <algorithm>

namespace ringcast {
namespace {

// Length of the sequence a lead byte starts; 0 for bytes that cannot start one (continuation
// bytes 80-BF, the overlong leads C0/C1, and F5-FF which would exceed U+10FFFF).
constexpr size_t SequenceLength(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xC2) return 0;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  if (lead < 0xF5) return 4;
  return 0;
}

// True when `seq` (1 to 4 bytes, seq[0] a byte with a nonzero SequenceLength) is a prefix of a
// valid sequence. The second-byte ranges are the RFC 3629 §4 table: they exclude overlongs
// (E0 80-9F, F0 80-8F), surrogates U+D800-DFFF (ED A0-BF) and code points above U+10FFFF
// (F4 90-BF).
bool IsValidPrefix(const uint8_t* seq, size_t size) {
  if (size < 2) return size == 1 ? SequenceLength(seq[0]) != 0 : true;
  uint8_t lo = 0x80;
  uint8_t hi = 0xBF;
  switch (seq[0]) {
    case 0xE0:
      lo = 0xA0;
      break;
    case 0xED:
      hi = 0x9F;
      break;
    case 0xF0:
      lo = 0x90;
      break;
    case 0xF4:
      hi = 0x8F;
      break;
    default:
      break;
  }
  if (seq[1] < lo || seq[1] > hi) return false;
  for (size_t i = 2; i < size; ++i) {
    if ((seq[i] & 0xC0) != 0x80) return false;
  }
  return true;
}

}  // namespace

bool IsValidUtf8(std::span<const uint8_t> data) {
  return simdjson::validate_utf8(reinterpret_cast<const char*>(data.data()), data.size());
}

bool Utf8Validator::Feed(std::span<const uint8_t> data) {
  if (!valid_) return false;

  // 1. Complete the sequence carried over from the previous call, byte by byte, so that a bad
  //    continuation byte fails on arrival.
  if (pending_size_ != 0) {
    const size_t need = SequenceLength(pending_[0]);
    while (pending_size_ < need && !data.empty()) {
      pending_[pending_size_++] = data.front();
      data = data.subspan(1);
      if (!IsValidPrefix(pending_, pending_size_)) return valid_ = false;
    }
    if (pending_size_ < need) return true;  // Still incomplete; data is exhausted.
    pending_size_ = 0;
  }

  // 2. Split off a trailing sequence that is cut short. Its lead byte can only be one of the
  //    last three bytes (a 4-byte sequence needs at least one more byte after them). If the
  //    nearest non-continuation byte starts a sequence longer than what is left, that is the
  //    cut; otherwise the whole span goes to the SIMD validator, which also rejects any stray
  //    continuation or invalid lead.
  size_t split = data.size();
  const size_t look_back = std::min<size_t>(3, data.size());
  for (size_t k = 1; k <= look_back; ++k) {
    const uint8_t b = data[data.size() - k];
    if ((b & 0xC0) == 0x80) continue;
    if (SequenceLength(b) > k) split = data.size() - k;
    break;
  }

  if (!IsValidUtf8(data.first(split))) return valid_ = false;

  // 3. Keep the incomplete tail, rejecting it now if it already cannot become valid
  //    (e.g. "ED A0", the start of a surrogate).
  const std::span<const uint8_t> tail = data.subspan(split);
  if (!tail.empty()) {
    if (!IsValidPrefix(tail.data(), tail.size())) return valid_ = false;
    std::copy(tail.begin(), tail.end(), pending_);
    pending_size_ = static_cast<uint8_t>(tail.size());
  }
  return true;
}

}  // namespace ringcast
