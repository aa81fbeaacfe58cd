#include "proto/utf8.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace ringcast {
namespace {

using namespace std::string_view_literals;

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Scalar reference (RFC 3629 §4 table): index of the first byte at which the input can no
// longer be a prefix of valid UTF-8, or npos when every prefix is still viable. Sets
// *truncated when the input ends inside a sequence.
size_t FirstImpossibleByte(std::string_view s, bool* truncated = nullptr) {
  if (truncated != nullptr) *truncated = false;
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b0 < 0x80) {
      ++i;
      continue;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    for (size_t k = 1; k < len; ++k) {
      if (i + k >= s.size()) {  // Truncated: still a prefix.
        if (truncated != nullptr) *truncated = true;
        return std::string_view::npos;
      }
      const auto b = static_cast<uint8_t>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) return i + k;
    }
    i += len;
  }
  return std::string_view::npos;
}

const std::string_view kValid[] = {
    ""sv,
    "hello, world"sv,
    "\x00"sv,
    "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"sv,  // "κόσμε" (Autobahn 6.2).
    "\xC2\x80"sv,                                      // U+0080, first 2-byte.
    "\xDF\xBF"sv,                                      // U+07FF.
    "\xE0\xA0\x80"sv,                                  // U+0800, first 3-byte.
    "\xED\x9F\xBF"sv,                                  // U+D7FF, just below surrogates.
    "\xEE\x80\x80"sv,                                  // U+E000, just above.
    "\xEF\xBF\xBD"sv,                                  // U+FFFD.
    "\xEF\xBF\xBF"sv,                                  // U+FFFF (noncharacters are valid).
    "\xF0\x90\x80\x80"sv,                              // U+10000, first 4-byte.
    "\xF4\x8F\xBF\xBF"sv,                              // U+10FFFF, the last code point.
    "\xF0\x9F\x98\x80 grin \xE2\x82\xAC euro \xC3\xA9t\xC3\xA9"sv,
    "\x7F"sv,
};

const std::string_view kInvalid[] = {
    "\x80"sv,  // Lone continuation.
    "\xBF"sv,
    "\x80\xBF\x80"sv,
    "a\x80"sv,
    "\xC0\x80"sv,      // Overlong NUL.
    "\xC1\xBF"sv,      // Overlong U+007F.
    "\xE0\x80\x80"sv,  // Overlong 3-byte.
    "\xE0\x9F\xBF"sv,
    "\xF0\x80\x80\x80"sv,  // Overlong 4-byte.
    "\xF0\x8F\xBF\xBF"sv,
    "\xF8\x88\x80\x80\x80"sv,      // 5-byte form.
    "\xFC\x84\x80\x80\x80\x80"sv,  // 6-byte form.
    "\xFE"sv,
    "\xFF"sv,
    "\xED\xA0\x80"sv,              // U+D800.
    "\xED\xBF\xBF"sv,              // U+DFFF.
    "\xED\xA0\x80\xED\xB0\x80"sv,  // A surrogate pair, CESU-8 style.
    "\xF4\x90\x80\x80"sv,          // U+110000.
    "\xF5\x80\x80\x80"sv,
    "\xF7\xBF\xBF\xBF"sv,  // U+1FFFFF.
    "\xC2"sv,              // Truncated sequences.
    "\xE2\x82"sv,
    "\xF0\x9F\x98"sv,
    "a\xC2"
    "a"sv,
    "\xE2\x82\x41"sv,
    "\xF0\x9F\x98\x41"sv,
    "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80\x65\x64\x69\x74\x65\x64"sv,  // 6.3.1
    "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xF4\x90\x80\x80\x65\x64\x69\x74\x65\x64"sv,  // 6.4
    "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xF4"sv,  // Truncated at the end.
    "\xCE\xBA\xE1\xBD"sv,
};

TEST(Utf8Test, WholeBufferVectors) {
  for (std::string_view s : kValid) EXPECT_TRUE(IsValidUtf8(Bytes(s))) << testing::PrintToString(s);
  for (std::string_view s : kInvalid) {
    EXPECT_FALSE(IsValidUtf8(Bytes(s))) << testing::PrintToString(s);
  }
}

bool ReferenceValid(std::string_view s) {
  bool truncated;
  return FirstImpossibleByte(s, &truncated) == std::string_view::npos && !truncated;
}

TEST(Utf8Test, ReferenceAgreesWithSimd) {
  for (std::string_view s : kValid) EXPECT_TRUE(ReferenceValid(s));
  for (std::string_view s : kInvalid) EXPECT_FALSE(ReferenceValid(s));
  // Random short strings biased towards the interesting bytes.
  std::mt19937 rng(99);
  const uint8_t interesting[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0,
                                 0xC1, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};
  for (int iter = 0; iter < 200000; ++iter) {
    std::string s(rng() % 8, '\0');
    for (char& c : s) c = static_cast<char>(interesting[rng() % std::size(interesting)]);
    ASSERT_EQ(IsValidUtf8(Bytes(s)), ReferenceValid(s)) << testing::PrintToString(s);
  }
}

// Long inputs exercise the SIMD blocks (64 bytes at a time) and their boundaries.
TEST(Utf8Test, LongInputsWithAnErrorAtEveryPosition) {
  std::string base;
  while (base.size() < 300) base += "ab\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80xyz";
  ASSERT_TRUE(IsValidUtf8(Bytes(base)));
  for (size_t pos = 0; pos < base.size(); ++pos) {
    std::string bad = base;
    bad[pos] = '\xFF';
    EXPECT_FALSE(IsValidUtf8(Bytes(bad))) << pos;
  }
}

// Feeds `s` in the given pieces; checks the incremental result matches the whole-buffer one and
// that Feed fails on exactly the piece holding the first impossible byte.
void CheckPieces(std::string_view s, const std::vector<size_t>& cuts) {
  const size_t bad = FirstImpossibleByte(s);
  Utf8Validator v;
  size_t start = 0;
  bool failed = false;
  std::vector<size_t> bounds = cuts;
  bounds.push_back(s.size());
  for (size_t end : bounds) {
    const bool ok = v.Feed(Bytes(s.substr(start, end - start)));
    const bool piece_has_bad = bad != std::string_view::npos && bad < end;
    if (!failed) {
      ASSERT_EQ(ok, !piece_has_bad)
          << testing::PrintToString(s) << " piece [" << start << ", " << end << ")";
    } else {
      ASSERT_FALSE(ok);  // Stays failed.
    }
    failed |= !ok;
    start = end;
  }
  EXPECT_EQ(v.Finish(), IsValidUtf8(Bytes(s))) << testing::PrintToString(s);
}

std::vector<std::string_view> AllVectors() {
  std::vector<std::string_view> all(std::begin(kValid), std::end(kValid));
  all.insert(all.end(), std::begin(kInvalid), std::end(kInvalid));
  return all;
}

TEST(Utf8ValidatorTest, WholeInOnePiece) {
  for (std::string_view s : AllVectors()) CheckPieces(s, {});
}

TEST(Utf8ValidatorTest, EverySplitPoint) {
  for (std::string_view s : AllVectors()) {
    for (size_t i = 0; i <= s.size(); ++i) CheckPieces(s, {i});
  }
}

TEST(Utf8ValidatorTest, EveryPairOfSplitPoints) {
  for (std::string_view s : AllVectors()) {
    for (size_t i = 0; i <= s.size(); ++i) {
      for (size_t j = i; j <= s.size(); ++j) CheckPieces(s, {i, j});
    }
  }
}

TEST(Utf8ValidatorTest, ByteByByteFailsFast) {
  for (std::string_view s : AllVectors()) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < s.size(); ++i) cuts.push_back(i);
    CheckPieces(s, cuts);
  }
}

TEST(Utf8ValidatorTest, EmptyFeedsAndReset) {
  Utf8Validator v;
  EXPECT_TRUE(v.Feed({}));
  EXPECT_TRUE(v.Finish());
  EXPECT_TRUE(v.Feed(Bytes("\xE2")));
  EXPECT_TRUE(v.Feed({}));
  EXPECT_FALSE(v.Finish());  // Unfinished sequence.
  EXPECT_TRUE(v.Feed(Bytes("\x82")));
  EXPECT_TRUE(v.Feed(Bytes("\xAC")));
  EXPECT_TRUE(v.Finish());
  EXPECT_FALSE(v.Feed(Bytes("\xFF")));
  EXPECT_FALSE(v.Feed(Bytes("a")));
  EXPECT_FALSE(v.Finish());
  v.Reset();
  EXPECT_TRUE(v.Feed(Bytes("a")));
  EXPECT_TRUE(v.Finish());
}

// Random text built from code points of every length, optionally corrupted, in random chunks.
TEST(Utf8ValidatorTest, RandomChunkings) {
  std::mt19937 rng(7);
  const std::string_view pieces[] = {"a"sv,
                                     "~"sv,
                                     "\xC3\xA9"sv,
                                     "\xDF\xBF"sv,
                                     "\xE2\x82\xAC"sv,
                                     "\xED\x9F\xBF"sv,
                                     "\xEF\xBF\xBF"sv,
                                     "\xF0\x9F\x98\x80"sv,
                                     "\xF4\x8F\xBF\xBF"sv};
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s;
    const size_t count = rng() % 120;
    for (size_t i = 0; i < count; ++i) s += pieces[rng() % std::size(pieces)];
    if (!s.empty() && rng() % 2 == 0) s[rng() % s.size()] = static_cast<char>(rng());
    std::vector<size_t> cuts;
    size_t pos = 0;
    while (true) {
      pos += rng() % 20;
      if (pos >= s.size()) break;
      cuts.push_back(pos);
    }
    CheckPieces(s, cuts);
  }
}

}  // namespace
}  // namespace ringcast
