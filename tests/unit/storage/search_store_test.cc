#include "storage/search_store.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringcast::storage {
namespace {

// The matched words, cut out of the passage at the snippet's ranges.
std::vector<std::string> Matched(const Snippet& snippet) {
  std::vector<std::string> words;
  for (const Snippet::Range& range : snippet.matches) {
    words.push_back(snippet.text.substr(range.begin, range.end - range.begin));
  }
  return words;
}

TEST(HighlightTest, MatchesAreRangesOfThePassageWhateverCaseTheyHave) {
  const Snippet snippet = Highlight("A FOX in <b>caps</b> & a fox", {"fox"});
  EXPECT_EQ(snippet.text, "A FOX in <b>caps</b> & a fox");
  EXPECT_EQ(Matched(snippet), (std::vector<std::string>{"FOX", "fox"}));
  EXPECT_EQ(snippet.matches.front(), (Snippet::Range{2, 5}));
}

// Issue 44 item 11: the matches were once marked in the text by U+E000 and U+E001, so a body
// holding them forged a match and lost them. The passage is the body's text as it is.
TEST(HighlightTest, PrivateUseCharactersAreTextAndForgeNothing) {
  const std::string body =
      "look \xEE\x80\x80"
      "forged\xEE\x80\x81 and \xEE\x80\x81stray, then needle";
  const Snippet snippet = Highlight(body, {"needle"});
  EXPECT_EQ(snippet.text, body);
  EXPECT_EQ(Matched(snippet), (std::vector<std::string>{"needle"}));
}

TEST(HighlightTest, ALongBodyIsCutAroundTheFirstMatchWithItsOffsetsShifted) {
  std::string body;
  for (int i = 0; i < 40; ++i) body += "word" + std::to_string(i) + " ";
  body += "needle and more";
  const Snippet snippet = Highlight(body, {"needle"});
  EXPECT_TRUE(snippet.text.starts_with("…word34 "));
  EXPECT_EQ(Matched(snippet), (std::vector<std::string>{"needle"}));
  const Snippet none = Highlight(body, {"absent"});
  EXPECT_TRUE(none.matches.empty());
  EXPECT_TRUE(none.text.starts_with("word0 ") && none.text.ends_with("…"));
}

}  // namespace
}  // namespace ringcast::storage
