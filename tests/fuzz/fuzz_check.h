// Helpers shared by the libFuzzer harnesses (see README.md): an invariant check that turns a
// broken invariant into a crash libFuzzer records, a reference UTF-8 validator, whether a view
// lies within its input, split points derived from the fuzz input, and exact-size copies.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

// Always on (harnesses build with NDEBUG): prints the broken invariant and aborts, which libFuzzer
// reports as a crash and saves the input for.
#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)

namespace ringcast::fuzz {

// Byte-at-a-time RFC 3629 validation (Table 3-7 of Unicode 15 §3.9): slow and obviously
// right, to check the SIMD validator the code under test uses.
inline bool ReferenceUtf8(std::span<const uint8_t> s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t b = s[i];
    if (b < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint8_t lo = 0x80, hi = 0xBF;  // Allowed range of the second byte.
    if (b >= 0xC2 && b <= 0xDF) {
      n = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      n = 2;
      if (b == 0xE0) lo = 0xA0;  // Overlong.
      if (b == 0xED) hi = 0x9F;  // Surrogates.
    } else if (b >= 0xF0 && b <= 0xF4) {
      n = 3;
      if (b == 0xF0) lo = 0x90;  // Overlong.
      if (b == 0xF4) hi = 0x8F;  // Above U+10FFFF.
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;  // Truncated sequence.
    if (s[i + 1] < lo || s[i + 1] > hi) return false;
    for (size_t k = 2; k <= n; ++k) {
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return false;
    }
    i += n + 1;
  }
  return true;
}

// Whether `part` lies within `whole`'s bytes: a view a parser returns must point into its input
// (or its own scratch). An empty part counts as within: it reads nothing.
inline bool Inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

// Up to `max_points` increasing cut positions in (0, size), from a seed: a small xorshift, so
// the fuzzer can vary the cuts by mutating the seed alone, and every input replays the same way.
inline std::vector<size_t> SplitPoints(size_t size, uint32_t seed, size_t max_points) {
  std::vector<size_t> points;
  if (size < 2) return points;
  uint32_t x = seed * 2654435761u + 1;
  const size_t count = 1 + x % max_points;
  for (size_t i = 0; i < count; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    points.push_back(1 + x % (size - 1));
  }
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());
  return points;
}

// `size` bytes copied into an allocation of exactly that size (one byte when empty: new[] of
// nothing has no address to read), so ASan reports any read past the end, which the fuzzer's own
// buffer, or a larger one, would hide.
class ExactCopy {
 public:
  ExactCopy(const void* data, size_t size)
      : bytes_(new uint8_t[size == 0 ? 1 : size]), size_(size) {
    if (size != 0) std::memcpy(bytes_.get(), data, size);
  }
  explicit ExactCopy(std::string_view text) : ExactCopy(text.data(), text.size()) {}

  std::string_view text() const { return {reinterpret_cast<const char*>(bytes_.get()), size_}; }
  // Writable, for code that works in place (a WebSocket reader unmasks its input).
  std::span<uint8_t> bytes() { return {bytes_.get(), size_}; }

 private:
  std::unique_ptr<uint8_t[]> bytes_;
  size_t size_;
};

}  // namespace ringcast::fuzz
