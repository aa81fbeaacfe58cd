// The worker side of static files (core/routes/static_files.h) on a real directory: what each
// request is answered, byte for byte. tests/integration/test_static_files.py drives the route
// through the server.
#include "core/routes/static_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include "tests/unit/support/temp_dir.h"

namespace ringcast {
namespace {

struct Response {
  std::string head;
  std::string body;
  int status() const { return std::stoi(head.substr(9, 3)); }
  bool Has(const std::string& header_line) const {
    return head.find("\r\n" + header_line + "\r\n") != std::string::npos;
  }
  std::string Header(const std::string& name) const {
    size_t at = head.find("\r\n" + name + ": ");
    if (at == std::string::npos) return "";
    at += name.size() + 4;
    return head.substr(at, head.find("\r\n", at) - at);
  }
};

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(scratch_.ok());
    base_ = scratch_.path();
    root_ = base_ + "/root";
    std::filesystem::create_directories(root_ + "/docs");
    std::filesystem::create_directories(root_ + "/empty");
    Write(root_ + "/index.html", "<h1>home</h1>");
    Write(root_ + "/app.js", "export const x = 1;\n");
    Write(root_ + "/docs/index.html", "docs");
    Write(base_ + "/secret.txt", "outside the root");
  }
  static void Write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }

  Response Get(const std::string& relative, bool trailing_slash = false,
               const std::string& if_none_match = "", bool head = false) {
    StaticFileRequest request{.root = root_,
                              .relative = relative,
                              .query = "v=1",
                              .trailing_slash = trailing_slash,
                              .if_none_match = if_none_match,
                              .head = head,
                              .keep_alive = true,
                              .max_bytes = 1024,
                              .max_age_s = 600};
    FramePtr frame = ServeStaticFile(request);
    std::string bytes(reinterpret_cast<const char*>(frame->data()), frame->size());
    const size_t end = bytes.find("\r\n\r\n");
    EXPECT_NE(end, std::string::npos) << bytes;
    return {bytes.substr(0, end + 2), bytes.substr(end + 4)};
  }

  testing::TempDir scratch_{"ringcast_static_test_"};
  std::string base_, root_;
};

TEST_F(StaticFilesTest, ServesFilesWithTypesValidatorsAndCachingHeaders) {
  Response index = Get("", true);
  EXPECT_EQ(index.status(), 200) << index.head;
  EXPECT_EQ(index.body, "<h1>home</h1>");
  EXPECT_TRUE(index.Has("Content-Type: text/html; charset=utf-8"));
  EXPECT_TRUE(index.Has("Content-Length: 13"));
  EXPECT_TRUE(index.Has("Cache-Control: no-cache"));
  EXPECT_TRUE(index.Has("X-Content-Type-Options: nosniff"));
  Response script = Get("app.js");
  EXPECT_EQ(script.body, "export const x = 1;\n");
  EXPECT_TRUE(script.Has("Content-Type: text/javascript; charset=utf-8"));
  EXPECT_TRUE(script.Has("Cache-Control: public, max-age=600"));
  const std::string etag = script.Header("ETag");
  ASSERT_FALSE(etag.empty());

  Response again = Get("app.js", false, "\"other\", W/" + etag);
  EXPECT_EQ(again.status(), 304);
  EXPECT_EQ(again.body, "");
  EXPECT_EQ(again.Header("ETag"), etag);
  EXPECT_TRUE(again.Has("Cache-Control: public, max-age=600"));
  EXPECT_EQ(again.Header("Content-Length"), "");
  EXPECT_EQ(Get("app.js", false, "*").status(), 304);
  EXPECT_EQ(Get("app.js", false, "\"stale\"").status(), 200);

  Response head = Get("app.js", false, "", true);
  EXPECT_EQ(head.status(), 200);
  EXPECT_TRUE(head.Has("Content-Length: 20"));
  EXPECT_EQ(head.body, "");

  // A new version of the file has a new validator.
  Write(root_ + "/app.js", "export const x = 22;\n");
  EXPECT_NE(Get("app.js").Header("ETag"), etag);
}

TEST_F(StaticFilesTest, DirectoriesAreTheirIndexNeverAListing) {
  EXPECT_EQ(Get("docs", true).body, "docs");
  Response redirect = Get("docs");
  EXPECT_EQ(redirect.status(), 301);
  EXPECT_EQ(redirect.Header("Location"), "/docs/?v=1");
  EXPECT_EQ(Get("empty", true).status(), 404);
  EXPECT_EQ(Get("empty").status(), 404);
  EXPECT_EQ(Get("missing.html").status(), 404);
  EXPECT_EQ(Get("index.html/x").status(), 404);
  EXPECT_EQ(Get("app.js", true).status(), 404);  // "/app.js/".
}

TEST_F(StaticFilesTest, SymbolicLinksOutOfTheRootAreRefused) {
  ASSERT_EQ(symlink("../secret.txt", (root_ + "/relative.txt").c_str()), 0);
  ASSERT_EQ(symlink((base_ + "/secret.txt").c_str(), (root_ + "/absolute.txt").c_str()), 0);
  ASSERT_EQ(symlink("..", (root_ + "/up").c_str()), 0);
  ASSERT_EQ(symlink("app.js", (root_ + "/alias.js").c_str()), 0);
  for (const char* escape : {"relative.txt", "absolute.txt", "up/secret.txt", "up/root/app.js"}) {
    Response response = Get(escape);
    EXPECT_EQ(response.status(), 404) << escape;
    EXPECT_EQ(response.body.find("outside"), std::string::npos) << escape;
  }
  EXPECT_EQ(Get("alias.js").body, "export const x = 1;\n");  // Inside the root: followed.
}

TEST_F(StaticFilesTest, OnlyRegularFilesWithinTheSizeBound) {
  ASSERT_EQ(mkfifo((root_ + "/pipe").c_str(), 0600), 0);
  EXPECT_EQ(Get("pipe").status(), 404);  // Not a wait for a writer.
  Write(root_ + "/big.bin", std::string(1025, 'x'));
  Response big = Get("big.bin");
  EXPECT_EQ(big.status(), 500);
  EXPECT_NE(big.body.find("--max-static-bytes"), std::string::npos);
  Write(root_ + "/edge.bin", std::string(1024, 'x'));
  Response edge = Get("edge.bin");
  EXPECT_EQ(edge.status(), 200);
  EXPECT_TRUE(edge.Has("Content-Type: application/octet-stream"));
  EXPECT_EQ(edge.body.size(), 1024u);
}

TEST_F(StaticFilesTest, ARootThatIsGoneIsNotFound) {
  std::filesystem::remove_all(root_);
  EXPECT_EQ(Get("", true).status(), 404);
  std::string error;
  EXPECT_FALSE(CheckWebRoot(root_, &error));
  EXPECT_NE(error.find(root_), std::string::npos) << error;
  EXPECT_TRUE(CheckWebRoot(base_, &error)) << error;
}

TEST(StaticContentTypeTest, ByExtensionIgnoringCase) {
  const std::pair<const char*, const char*> types[] = {
      {"a/index.HTML", "text/html; charset=utf-8"},
      {"m.mjs", "text/javascript; charset=utf-8"},
      {"s.css", "text/css; charset=utf-8"},
      {"d.json", "application/json"},
      {"app.js.map", "application/json"},
      {"i.svg", "image/svg+xml"},
      {"i.png", "image/png"},
      {"i.jpg", "image/jpeg"},
      {"i.webp", "image/webp"},
      {"favicon.ico", "image/x-icon"},
      {"f.woff2", "font/woff2"},
      {"robots.txt", "text/plain; charset=utf-8"},
  };
  for (const auto& [path, type] : types) EXPECT_EQ(StaticContentType(path), type) << path;
  for (const char* unknown : {"x.exe", "Makefile", "dir.d/file", "trailing.", ".js/x"}) {
    EXPECT_EQ(StaticContentType(unknown), "application/octet-stream") << unknown;
  }
}

TEST(EtagMatchesTest, WeakComparisonOverAList) {
  for (const char* matching : {"\"a\"", "W/\"a\"", " \"x\" ,\t\"a\" ", "*"}) {
    EXPECT_TRUE(EtagMatches(matching, "\"a\"")) << matching;
  }
  for (const char* other : {"\"ab\"", "a", ""}) {
    EXPECT_FALSE(EtagMatches(other, "\"a\"")) << other;
  }
}

}  // namespace
}  // namespace ringcast
