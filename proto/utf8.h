// UTF-8 validation (RFC 3629), whole-buffer and incremental across fragments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ringcast {

// Whole-buffer validation, SIMD (simdjson's validate_utf8).
bool IsValidUtf8(std::span<const uint8_t> data);

// Validates a text message that arrives in pieces (WebSocket fragments or partial frames):
// each Feed() validates all complete code points with the SIMD validator and carries an
// incomplete trailing sequence (at most 3 bytes) into the next call, so an invalid message is
// rejected as soon as its first bad byte arrives (RFC 6455 §8.1 "fail fast").
class Utf8Validator {
 public:
  // False as soon as the bytes seen so far cannot be a prefix of valid UTF-8.
  bool Feed(std::span<const uint8_t> data);
  // True when everything fed was valid and no sequence is left unfinished.
  bool Finish() const { return valid_ && pending_size_ == 0; }
  void Reset() {
    valid_ = true;
    pending_size_ = 0;
  }

 private:
  uint8_t pending_[4] = {};
  uint8_t pending_size_ = 0;
  bool valid_ = true;
};

}  // namespace ringcast
