#include <gtest/gtest.h>

#include <string>

#include "chat/api/upload_api.h"

namespace ringcast::chat {
namespace {

// Each image type the thumbnails read (core/media/thumbnail.h) is stored as declared only when
// the bytes begin with that image's signature; anything else claiming it is stored as
// application/octet-stream (served as an attachment, never decoded as that image).
TEST(StoredType, ImageTypesMustMatchTheirMagicBytes) {
  const std::string png = "\x89PNG\r\n\x1a\n....";
  const std::string jpeg = "\xFF\xD8\xFF\xE0....";
  const std::string gif = "GIF89a\x01\x00\x01\x00";
  const std::string gif87 = "GIF87a\x01\x00\x01\x00";
  const std::string webp = std::string("RIFF\x10\x00\x00\x00WEBPVP8 ", 16);
  EXPECT_EQ(StoredType("image/png", png), "image/png");
  EXPECT_EQ(StoredType("image/jpeg", jpeg), "image/jpeg");
  EXPECT_EQ(StoredType("image/gif", gif), "image/gif");
  EXPECT_EQ(StoredType("IMAGE/GIF; x=1", gif87), "image/gif");
  EXPECT_EQ(StoredType("image/webp", webp), "image/webp");
  // Declared one image, is another (or none).
  EXPECT_EQ(StoredType("image/gif", png), "application/octet-stream");
  EXPECT_EQ(StoredType("image/webp", gif), "application/octet-stream");
  EXPECT_EQ(StoredType("image/gif", "<html><script>"), "application/octet-stream");
  EXPECT_EQ(StoredType("image/webp", std::string("RIFF\x10\x00\x00\x00WAVEfmt ", 16)),
            "application/octet-stream");
  EXPECT_EQ(StoredType("image/webp", "RIFF"), "application/octet-stream");
  // Not an image: kept as declared (served as an attachment).
  EXPECT_EQ(StoredType("text/plain", gif), "text/plain");
  EXPECT_EQ(StoredType("", gif), "application/octet-stream");
}

}  // namespace
}  // namespace ringcast::chat
