#include "core/media/thumbnail.h"

#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace ringcast {
namespace {

class ThumbnailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/thumbnail_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    for (const std::string& path : files_) unlink(path.c_str());
    rmdir(dir_.c_str());
  }
  std::string Path(const std::string& name) {
    files_.push_back(dir_ + "/" + name);
    return files_.back();
  }
  // An RGBA PNG, half transparent on the right (composited onto white).
  std::string WritePng(uint32_t width, uint32_t height) {
    std::vector<uint8_t> pixels(size_t{width} * height * 4);
    for (uint32_t y = 0; y < height; ++y) {
      for (uint32_t x = 0; x < width; ++x) {
        uint8_t* p = &pixels[(size_t{y} * width + x) * 4];
        p[0] = 200;
        p[1] = static_cast<uint8_t>(y);
        p[2] = 10;
        p[3] = x < width / 2 ? 255 : 0;
      }
    }
    png_image image;
    std::memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
    image.width = width;
    image.height = height;
    image.format = PNG_FORMAT_RGBA;
    const std::string path = Path("in.png");
    EXPECT_TRUE(png_image_write_to_file(&image, path.c_str(), 0, pixels.data(), 0, nullptr));
    return path;
  }
  std::string dir_;
  std::vector<std::string> files_;
};

TEST_F(ThumbnailTest, PngToJpegOnTheLongSide) {
  Thumbnail thumb = MakeThumbnail(WritePng(1000, 500), "image/png");
  ASSERT_TRUE(thumb.ok) << thumb.error;
  EXPECT_EQ(thumb.width, 1000u);
  EXPECT_EQ(thumb.height, 500u);
  EXPECT_EQ(thumb.thumb_width, 320u);
  EXPECT_EQ(thumb.thumb_height, 160u);
  ASSERT_GE(thumb.jpeg.size(), 3u);
  EXPECT_EQ(thumb.jpeg.substr(0, 3), "\xFF\xD8\xFF");
  // The thumbnail is itself a JPEG the decoder reads back, at the same size (never enlarged).
  const std::string jpeg = Path("thumb.jpg");
  std::ofstream(jpeg, std::ios::binary) << thumb.jpeg;
  Thumbnail again = MakeThumbnail(jpeg, "image/jpeg");
  ASSERT_TRUE(again.ok) << again.error;
  EXPECT_EQ(again.width, 320u);
  EXPECT_EQ(again.height, 160u);
  EXPECT_EQ(again.thumb_width, 320u);
}

TEST_F(ThumbnailTest, SmallImageKeepsItsSize) {
  Thumbnail thumb = MakeThumbnail(WritePng(10, 30), "image/png");
  ASSERT_TRUE(thumb.ok) << thumb.error;
  EXPECT_EQ(thumb.thumb_width, 10u);
  EXPECT_EQ(thumb.thumb_height, 30u);
}

TEST_F(ThumbnailTest, RefusesWhatItCannotRead) {
  const std::string path = Path("not.png");
  std::ofstream(path, std::ios::binary) << "<html>not an image</html>";
  EXPECT_FALSE(MakeThumbnail(path, "image/png").ok);
  EXPECT_FALSE(MakeThumbnail(path, "image/jpeg").ok);
  EXPECT_FALSE(MakeThumbnail(path, "image/gif").ok);
  EXPECT_FALSE(MakeThumbnail(Path("missing.jpg"), "image/jpeg").ok);
}

}  // namespace
}  // namespace ringcast
