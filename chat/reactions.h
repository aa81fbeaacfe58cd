// What a reaction's emoji may be (proto/PROTOCOL.md, "Changes to messages"): one extended
// grapheme cluster of at most kMaxReactionBytes of UTF-8, no control characters. Pure.
//
// Not the whole of Unicode's segmentation (UAX #29, which needs its property tables): the
// clusters reactions are made of. A cluster here is one base code point (not a mark, joiner,
// selector, modifier or control), then any of combining marks (U+0300–036F, 1AB0–1AFF,
// 1DC0–1DFF, 20D0–20FF, FE20–FE2F), variation selectors (FE00–FE0F, E0100–E01EF), emoji
// modifiers (skin tones, 1F3FB–1F3FF) and tags (E0020–E007F, subdivision flags); ZWJ (200D)
// followed by another base joins it into the same cluster (family, profession sequences); two
// regional indicators (1F1E6–1F1FF) make one flag. So "👍", "👍🏽", "👨‍👩‍👧", "🇫🇷",
// "1️⃣", "é" (e + U+0301) and "+" are one; "👍👍", "ab", "" and a lone mark are not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ringcast::chat {

inline constexpr size_t kMaxReactionBytes = 64;

namespace reaction_detail {

// The next code point of valid UTF-8 (no overlongs, no surrogates), advancing `at`.
inline std::optional<char32_t> NextCodePoint(std::string_view text, size_t& at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  size_t length = lead < 0x80           ? 1
                  : (lead >> 5) == 0x6  ? 2
                  : (lead >> 4) == 0xE  ? 3
                  : (lead >> 3) == 0x1E ? 4
                                        : 0;
  if (length == 0 || at + length > text.size()) return std::nullopt;
  char32_t cp = length == 1 ? lead : lead & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (byte(at + i) & 0x3F);
  }
  constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  at += length;
  return cp;
}

inline bool In(char32_t cp, char32_t low, char32_t high) { return cp >= low && cp <= high; }

inline bool IsControl(char32_t cp) { return cp < 0x20 || In(cp, 0x7F, 0x9F); }

// Extends the cluster before it.
inline bool IsExtender(char32_t cp) {
  return In(cp, 0x300, 0x36F) || In(cp, 0x1AB0, 0x1AFF) || In(cp, 0x1DC0, 0x1DFF) ||
         In(cp, 0x20D0, 0x20FF) || In(cp, 0xFE20, 0xFE2F) || In(cp, 0xFE00, 0xFE0F) ||
         In(cp, 0xE0100, 0xE01EF) || In(cp, 0x1F3FB, 0x1F3FF) || In(cp, 0xE0020, 0xE007F);
}

inline bool IsRegionalIndicator(char32_t cp) { return In(cp, 0x1F1E6, 0x1F1FF); }

constexpr char32_t kZeroWidthJoiner = 0x200D;

}  // namespace reaction_detail

inline bool IsOneGrapheme(std::string_view text) {
  using namespace reaction_detail;
  if (text.empty() || text.size() > kMaxReactionBytes) return false;
  size_t at = 0;
  bool need_base = true;  // At the start, and after a ZWJ.
  int regional = 0;       // Regional indicators in the current base (a flag is two).
  while (at < text.size()) {
    const std::optional<char32_t> cp = NextCodePoint(text, at);
    if (!cp || IsControl(*cp)) return false;
    if (need_base) {
      if (IsExtender(*cp) || *cp == kZeroWidthJoiner) return false;
      need_base = false;
      regional = IsRegionalIndicator(*cp) ? 1 : 0;
    } else if (*cp == kZeroWidthJoiner) {
      need_base = true;
    } else if (IsRegionalIndicator(*cp) && regional == 1) {
      regional = 2;
    } else if (!IsExtender(*cp)) {
      return false;  // A second base: a second cluster.
    }
  }
  return !need_base;  // A trailing ZWJ joins nothing.
}

}  // namespace ringcast::chat
