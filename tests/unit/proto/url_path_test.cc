#include "proto/url_path.h"

#include <gtest/gtest.h>

namespace ringcast::http {
namespace {

TEST(PercentDecodeTest, DecodesEscapesAndKeepsEverythingElse) {
  std::string out;
  ASSERT_TRUE(PercentDecode("a%2Fb%2fc+d%20e", &out));
  EXPECT_EQ(out, "a/b/c+d e");  // '+' is no space in a path.
  ASSERT_TRUE(PercentDecode("%00%ff", &out));
  EXPECT_EQ(out, std::string("\0\xff", 2));
  ASSERT_TRUE(PercentDecode("", &out));
  EXPECT_EQ(out, "");
  for (const char* bad : {"%", "%2", "a%2", "%zz", "%g0", "%0g", "100%"}) {
    EXPECT_FALSE(PercentDecode(bad, &out)) << bad;
  }
}

TEST(QueryParamTest, FindsTheFirstOccurrenceUndecoded) {
  EXPECT_EQ(QueryParam("q=al&limit=5", "limit"), "5");
  EXPECT_EQ(QueryParam("q=a%20b", "q"), "a%20b");
  EXPECT_EQ(QueryParam("q&x=1", "q"), "");
  EXPECT_EQ(QueryParam("q=&x=1", "q"), "");
  EXPECT_EQ(QueryParam("q=1&q=2", "q"), "1");
  EXPECT_EQ(QueryParam("qq=1", "q"), std::nullopt);
  EXPECT_EQ(QueryParam("", "q"), std::nullopt);
}

TEST(CheckStaticPathTest, AcceptsOrdinaryPaths) {
  struct Case {
    const char* path;
    const char* relative;
    bool trailing_slash;
  } cases[] = {
      {"/", "", true},
      {"/index.html", "index.html", false},
      {"/js/app.mjs", "js/app.mjs", false},
      {"/docs/", "docs", true},
      {"//a///b", "a/b", false},
      {"/a%20b.txt", "a b.txt", false},
      {"/%61pp.js", "app.js", false},
      {"/a..b/c...", "a..b/c...", false},  // Dots inside a name are not segments.
      {"/\xc3\xa9t\xc3\xa9.txt", "\xc3\xa9t\xc3\xa9.txt", false},
  };
  for (const Case& c : cases) {
    StaticPath path = CheckStaticPath(c.path);
    EXPECT_EQ(path.check, PathCheck::kOk) << c.path;
    EXPECT_EQ(path.relative, c.relative) << c.path;
    EXPECT_EQ(path.trailing_slash, c.trailing_slash) << c.path;
  }
}

TEST(CheckStaticPathTest, RefusesEveryWayOutAndEveryOddByte) {
  for (const char* bad : {"/..", "/../etc/passwd", "/a/../../b", "/a/..", "/.", "/./a", "/%2e%2e/x",
                          "/%2E%2e/x", "/.%2e/x", "/..%2fx", "/a%2f..%2f..%2fb", "/a%2Fb",
                          "/a%5c..%5cb", "/a\\b", "/a%00b", "/a%0ab", "/a%7fb", "/a%1fb"}) {
    EXPECT_EQ(CheckStaticPath(bad).check, PathCheck::kForbidden) << bad;
  }
  for (const char* malformed : {"", "*", "http://x/a", "a/b", "/a%", "/a%2", "/a%zz"}) {
    EXPECT_EQ(CheckStaticPath(malformed).check, PathCheck::kMalformed) << malformed;
  }
  for (const char* hidden : {"/.git/config", "/.env", "/a/.htpasswd", "/%2egit"}) {
    EXPECT_EQ(CheckStaticPath(hidden).check, PathCheck::kHidden) << hidden;
  }
  EXPECT_EQ(CheckStaticPath("/" + std::string(kMaxStaticPath, 'a')).check, PathCheck::kOk);
  EXPECT_EQ(CheckStaticPath("/" + std::string(kMaxStaticPath + 1, 'a')).check,
            PathCheck::kForbidden);
}

}  // namespace
}  // namespace ringcast::http
