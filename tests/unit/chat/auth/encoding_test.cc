#include "chat/auth/encoding.h"

#include <gtest/gtest.h>

#include <string>

namespace ringcast::auth {
namespace {

struct Vector {
  std::string_view bytes;
  std::string_view text;
};

// RFC 4648 §10 (padding dropped, as §5 permits and RFC 7515 §2 requires), then bytes whose
// base64 uses '+' and '/', which the URL alphabet spells '-' and '_'.
constexpr Vector kVectors[] = {
    {"", ""},
    {"f", "Zg"},
    {"fo", "Zm8"},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg"},
    {"fooba", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy"},
    {"\xfb\xff", "-_8"},       // base64 "+/8="
    {"\xfb\xef\xbe", "----"},  // base64 "++++"
    {"\xff\xff\xff", "____"},  // base64 "////"
    {"\x03\xe0\x3f", "A-A_"},  // base64 "A+A/"
    {"\xfa", "-g"},            // base64 "+g=="
    {std::string_view("\0", 1), "AA"},
};

TEST(Base64UrlTest, Rfc4648Vectors) {
  for (const Vector& v : kVectors) {
    EXPECT_EQ(Base64UrlEncode(v.bytes), v.text);
    const std::optional<std::string> decoded = Base64UrlDecode(v.text);
    ASSERT_TRUE(decoded.has_value()) << v.text;
    EXPECT_EQ(*decoded, v.bytes) << v.text;
  }
}

TEST(Base64UrlTest, RoundTripsEveryLengthAndByte) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(bytes)), bytes) << i;
    bytes += static_cast<char>((i * 37 + 11) & 0xff);
  }
}

TEST(Base64UrlTest, SpanAndStringOverloadsAgree) {
  const uint8_t bytes[] = {0, 1, 2, 0xfe, 0xff};
  EXPECT_EQ(Base64UrlEncode(std::span<const uint8_t>(bytes)), "AAEC_v8");
}

TEST(Base64UrlTest, RejectsNonCanonicalText) {
  for (const std::string_view bad : {
           "Zg==",      // Padding.
           "Zm8=",      // Padding.
           "Z",         // One leftover character is less than a byte.
           "Zm9vY",     // Same, after a full group.
           "Zh",        // Unused low bits set: "Zg" is the canonical form of "f".
           "Zm9",       // Unused low bits set: "Zm8" is the canonical form of "fo".
           "+/8",       // Standard alphabet.
           "Zm9v\n",    // Whitespace.
           "Zm 9v",     // Whitespace.
           "Zm9v.",     // Separator.
           "Zm9v\x80",  // Non-ASCII.
       }) {
    EXPECT_FALSE(Base64UrlDecode(bad).has_value()) << bad;
  }
  EXPECT_FALSE(Base64UrlDecode(std::string_view("Zm\0v", 4)).has_value());
}

TEST(HexTest, EncodesLowercaseAndRoundTrips) {
  const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
  EXPECT_EQ(HexEncode(bytes), "00017f80abff");
  EXPECT_EQ(HexDecode("00017f80abff"), std::string("\x00\x01\x7f\x80\xab\xff", 6));
  EXPECT_EQ(HexDecode("ABff"), std::string("\xab\xff"));
  EXPECT_EQ(HexDecode(""), std::string());
}

TEST(HexTest, RejectsOddLengthAndNonHex) {
  for (const std::string_view bad :
       {"0", "abc", "0g", "zz", " 00", "00 ", "0x00", "-1", "+f", " f", "f ", "0x"}) {
    EXPECT_FALSE(HexDecode(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace ringcast::auth
