#include "proto/file_response.h"

#include <gtest/gtest.h>

namespace ringcast::http {
namespace {

using Kind = ByteRange::Kind;

TEST(ParseByteRange, SingleRanges) {
  auto r = ParseByteRange("bytes=0-99", 1000);
  EXPECT_EQ(r.kind, Kind::kPartial);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 99u);
  r = ParseByteRange("bytes=500-", 1000);
  EXPECT_EQ(r.kind, Kind::kPartial);
  EXPECT_EQ(r.first, 500u);
  EXPECT_EQ(r.last, 999u);
  r = ParseByteRange("Bytes=-10", 1000);
  EXPECT_EQ(r.kind, Kind::kPartial);
  EXPECT_EQ(r.first, 990u);
  r = ParseByteRange("bytes=-5000", 1000);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 999u);
  r = ParseByteRange("bytes=900-5000", 1000);
  EXPECT_EQ(r.last, 999u);
}

TEST(ParseByteRange, UnsatisfiableAndIgnored) {
  EXPECT_EQ(ParseByteRange("bytes=1000-", 1000).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(ParseByteRange("bytes=0-", 0).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(ParseByteRange("bytes=-0", 1000).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(ParseByteRange("", 1000).kind, Kind::kWhole);
  EXPECT_EQ(ParseByteRange("bytes=0-1,5-6", 1000).kind, Kind::kWhole);
  EXPECT_EQ(ParseByteRange("bytes=5-1", 1000).kind, Kind::kWhole);
  EXPECT_EQ(ParseByteRange("items=0-1", 1000).kind, Kind::kWhole);
  EXPECT_EQ(ParseByteRange("bytes=x-1", 1000).kind, Kind::kWhole);
  EXPECT_EQ(ParseByteRange("bytes=-", 1000).kind, Kind::kWhole);
}

TEST(ContentDisposition, EncodesPerRfc6266) {
  EXPECT_EQ(ContentDisposition(false, "a b.txt"),
            "attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt");
  EXPECT_EQ(ContentDisposition(true, "\xE2\x82\xAC\"x\r\n.png"),
            "inline; filename=\"____x__.png\"; filename*=UTF-8''%E2%82%AC%22x%0D%0A.png");
}

TEST(SniffImageType, Signatures) {
  auto sniff = [](std::string_view head) {
    return SniffImageType({reinterpret_cast<const uint8_t*>(head.data()), head.size()});
  };
  EXPECT_EQ(sniff("\x89PNG\r\n\x1a\n...."), "image/png");
  EXPECT_EQ(sniff("\xFF\xD8\xFF\xE0"), "image/jpeg");
  EXPECT_EQ(sniff("GIF89a"), "image/gif");
  EXPECT_EQ(sniff(std::string_view("RIFF\x10\x00\x00\x00WEBPVP8 ", 16)), "image/webp");
  EXPECT_EQ(sniff("<html><script>"), "");
  EXPECT_EQ(sniff("\x89PN"), "");
  EXPECT_TRUE(InlineSafeType("image/png"));
  EXPECT_FALSE(InlineSafeType("image/svg+xml"));
  EXPECT_FALSE(InlineSafeType("text/html"));
}

}  // namespace
}  // namespace ringcast::http
