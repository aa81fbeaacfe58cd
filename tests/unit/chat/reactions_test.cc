// A reaction is one grapheme cluster (chat/reactions.h).
#include "chat/reactions.h"

#include <gtest/gtest.h>

#include <string>

namespace ringcast::chat {
namespace {

TEST(ReactionsTest, OneClusterIsAccepted) {
  for (std::string_view one : {
           "+", "\xF0\x9F\x91\x8D",                                    // 👍
           "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",                         // 👍🏽
           "\xE2\x9D\xA4\xEF\xB8\x8F",                                 // ❤️ (VS16)
           "1\xEF\xB8\x8F\xE2\x83\xA3",                                // 1️⃣ (keycap)
           "\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7",                         // 🇫🇷
           "e\xCC\x81",                                                // e + U+0301
           "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D"  // 👨‍👩‍👧
           "\xF0\x9F\x91\xA7",
           "\xE4\xB8\xAD",  // 中
       }) {
    EXPECT_TRUE(IsOneGrapheme(one)) << one;
  }
}

TEST(ReactionsTest, AnythingElseIsRefused) {
  for (std::string_view bad : {
           std::string_view(""), std::string_view("ab"),
           std::string_view("\xF0\x9F\x91\x8D\xF0\x9F\x91\x8D"),                  // 👍👍
           std::string_view("\xCC\x81"),                                          // A lone mark.
           std::string_view("\xF0\x9F\x91\xA8\xE2\x80\x8D"),                      // Trailing ZWJ.
           std::string_view("\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7\xF0\x9F\x87\xAB"),  // 1.5 flags.
           std::string_view("\n"), std::string_view("a\x01", 2), std::string_view("\xC2\x85"),
           std::string_view("\xC0\xAF"),      // Overlong.
           std::string_view("\xED\xA0\x80"),  // A surrogate.
           std::string_view("\xF0\x9F\x91"),  // Truncated.
       }) {
    EXPECT_FALSE(IsOneGrapheme(bad)) << bad;
  }
  // At most kMaxReactionBytes, even of one cluster.
  std::string long_one = "e";
  while (long_one.size() + 2 <= kMaxReactionBytes) long_one += "\xCC\x81";
  EXPECT_TRUE(IsOneGrapheme(long_one));
  long_one += "\xCC\x81";
  EXPECT_FALSE(IsOneGrapheme(long_one));
}

}  // namespace
}  // namespace ringcast::chat
