#include "core/media/thumbnail.h"

#include <gif_lib.h>
#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>
#include <webp/encode.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "core/media/decoders.h"
#include "tests/unit/support/temp_dir.h"

namespace ringcast {
namespace {

using media::RgbImage;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

uint32_t Crc32(std::string_view bytes) {  // PNG's CRC (ISO 3309), for a patched IHDR.
  uint32_t crc = 0xFFFFFFFF;
  for (char c : bytes) {
    crc ^= static_cast<uint8_t>(c);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320 & (0 - (crc & 1)));
  }
  return ~crc;
}

void PutBigEndian32(std::string& bytes, size_t at, uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>(value >> (24 - 8 * i));
}

class ThumbnailTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(dir_.ok()); }
  std::string Path(const std::string& name) { return dir_.File(name); }
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
  testing::TempDir dir_{"thumbnail_test."};
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

// A GIF of two frames: the first red above blue with a transparent (white) left column, the
// second all green (never shown). Rows are written in interlaced order when asked.
std::string WriteGif(const std::string& path, int width, int height, bool interlaced,
                     int screen_width = 0, int screen_height = 0) {
  int error = 0;
  GifFileType* gif = EGifOpenFileName(path.c_str(), false, &error);
  EXPECT_NE(gif, nullptr);
  EGifSetGifVersion(gif, true);
  GifColorType colors[4] = {{255, 0, 0}, {0, 0, 255}, {0, 255, 0}, {0, 0, 0}};
  ColorMapObject* map = GifMakeMapObject(4, colors);
  EXPECT_EQ(EGifPutScreenDesc(gif, screen_width ? screen_width : width,
                              screen_height ? screen_height : height, 8, 0, map),
            GIF_OK);
  GraphicsControlBlock control{};
  control.TransparentColor = 3;
  GifByteType extension[4];
  const size_t size = EGifGCBToExtension(&control, extension);
  EXPECT_EQ(EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, static_cast<int>(size), extension),
            GIF_OK);
  EXPECT_EQ(EGifPutImageDesc(gif, 0, 0, width, height, interlaced, nullptr), GIF_OK);
  std::vector<int> rows;
  if (interlaced) {
    static constexpr int kStart[] = {0, 4, 2, 1};
    static constexpr int kStep[] = {8, 8, 4, 2};
    for (int pass = 0; pass < 4; ++pass) {
      for (int y = kStart[pass]; y < height; y += kStep[pass]) rows.push_back(y);
    }
  } else {
    for (int y = 0; y < height; ++y) rows.push_back(y);
  }
  std::vector<GifPixelType> line(static_cast<size_t>(width));
  for (int y : rows) {
    for (int x = 0; x < width; ++x) line[size_t(x)] = x == 0 ? 3 : (y < height / 2 ? 0 : 1);
    EXPECT_EQ(EGifPutLine(gif, line.data(), width), GIF_OK);
  }
  EXPECT_EQ(EGifPutImageDesc(gif, 0, 0, width, height, false, nullptr), GIF_OK);
  std::fill(line.begin(), line.end(), 2);
  for (int y = 0; y < height; ++y) EXPECT_EQ(EGifPutLine(gif, line.data(), width), GIF_OK);
  EXPECT_EQ(EGifCloseFile(gif, &error), GIF_OK);
  GifFreeMapObject(map);
  return path;
}

const uint8_t* PixelAt(const RgbImage& image, uint32_t x, uint32_t y) {
  return image.pixels.data() + (size_t{y} * image.width + x) * 3;
}

TEST_F(ThumbnailTest, GifFirstFrameInterlacedAndTransparent) {
  for (bool interlaced : {false, true}) {
    Thumbnail out;
    RgbImage image;
    ASSERT_TRUE(media::DecodeGif(WriteGif(Path("in.gif"), 40, 30, interlaced), &out, &image))
        << out.error;
    EXPECT_EQ(out.width, 40u);
    EXPECT_EQ(out.height, 30u);
    ASSERT_EQ(image.pixels.size(), 40u * 30 * 3);
    for (uint32_t y : {0u, 7u, 14u}) {  // Red above (the first frame, not the green second).
      EXPECT_EQ(std::vector<uint8_t>(PixelAt(image, 5, y), PixelAt(image, 5, y) + 3),
                (std::vector<uint8_t>{255, 0, 0}))
          << "row " << y << (interlaced ? " interlaced" : "");
    }
    for (uint32_t y : {15u, 22u, 29u}) {
      EXPECT_EQ(std::vector<uint8_t>(PixelAt(image, 5, y), PixelAt(image, 5, y) + 3),
                (std::vector<uint8_t>{0, 0, 255}))
          << "row " << y << (interlaced ? " interlaced" : "");
    }
    EXPECT_EQ(PixelAt(image, 0, 20)[1], 255);  // Transparent: white.
  }
  Thumbnail thumb = MakeThumbnail(WriteGif(Path("big.gif"), 800, 400, false), "image/gif");
  ASSERT_TRUE(thumb.ok) << thumb.error;
  EXPECT_EQ(thumb.thumb_width, 320u);
  EXPECT_EQ(thumb.thumb_height, 160u);
}

TEST_F(ThumbnailTest, WebpLossyLosslessAndAlpha) {
  const uint32_t width = 600, height = 300;
  std::vector<uint8_t> rgba(size_t{width} * height * 4);
  for (size_t i = 0; i < size_t{width} * height; ++i) {
    const bool right = (i % width) >= width / 2;
    rgba[i * 4 + 0] = 20;
    rgba[i * 4 + 1] = 180;
    rgba[i * 4 + 2] = 60;
    rgba[i * 4 + 3] = right ? 0 : 255;
  }
  std::vector<uint8_t> rgb(size_t{width} * height * 3, 0);
  for (size_t i = 0; i < size_t{width} * height; ++i) std::memcpy(&rgb[i * 3], &rgba[i * 4], 3);
  struct Case {
    const char* name;
    size_t size;
    uint8_t* bytes;
    bool alpha;
  };
  std::vector<Case> cases;
  uint8_t* encoded = nullptr;
  size_t size = WebPEncodeRGB(rgb.data(), width, height, width * 3, 90, &encoded);
  cases.push_back({"lossy", size, encoded, false});
  size = WebPEncodeRGBA(rgba.data(), width, height, width * 4, 90, &encoded);
  cases.push_back({"lossy with alpha", size, encoded, true});
  size = WebPEncodeLosslessRGBA(rgba.data(), width, height, width * 4, &encoded);
  cases.push_back({"lossless with alpha", size, encoded, true});
  for (const Case& c : cases) {
    ASSERT_GT(c.size, 0u) << c.name;
    const std::string path = Path(std::string(c.name) + ".webp");
    WriteAll(path, std::string(reinterpret_cast<const char*>(c.bytes), c.size));
    WebPFree(c.bytes);
    Thumbnail out;
    RgbImage image;
    ASSERT_TRUE(media::DecodeWebp(path, &out, &image)) << c.name << ": " << out.error;
    EXPECT_EQ(out.width, width);
    EXPECT_EQ(out.height, height);
    ASSERT_EQ(image.pixels.size(), size_t{width} * height * 3) << c.name;
    const uint8_t* left = PixelAt(image, 10, 10);
    EXPECT_NEAR(left[1], 180, 8) << c.name;
    EXPECT_NEAR(left[0], 20, 8) << c.name;
    const uint8_t* right = PixelAt(image, width - 10, 10);
    EXPECT_NEAR(right[0], c.alpha ? 255 : 20, 8) << c.name;  // Transparent: white.
    Thumbnail thumb = MakeThumbnail(path, "image/webp");
    ASSERT_TRUE(thumb.ok) << c.name << ": " << thumb.error;
    EXPECT_EQ(thumb.thumb_width, 320u);
    EXPECT_EQ(thumb.thumb_height, 160u);
  }
  // Truncated: no thumbnail (and no crash).
  const std::string whole = ReadAll(Path("lossy.webp"));
  const std::string cut = Path("cut.webp");
  WriteAll(cut, whole.substr(0, whole.size() / 2));
  EXPECT_FALSE(MakeThumbnail(cut, "image/webp").ok);
}

// An animated WebP put together chunk by chunk (RIFF: VP8X with the animation flag, ANIM, then
// one ANMF per frame wrapping a still image's VP8 chunk), as libwebpmux would write it: the
// thumbnail is its first frame's.
std::string Le24(uint32_t v) { return {char(v & 0xff), char((v >> 8) & 0xff), char(v >> 16)}; }
std::string Le32(uint32_t v) { return Le24(v) + char(v >> 24); }
std::string Chunk(const char* tag, const std::string& payload) {
  std::string chunk = std::string(tag, 4) + Le32(uint32_t(payload.size())) + payload;
  if (payload.size() % 2 == 1) chunk += '\0';
  return chunk;
}

TEST_F(ThumbnailTest, AnimatedWebpGetsItsFirstFramesThumbnail) {
  const uint32_t width = 400, height = 200;
  std::string frames;
  for (uint8_t green : {200, 40}) {
    std::vector<uint8_t> rgb(size_t{width} * height * 3);
    for (size_t i = 0; i < size_t{width} * height; ++i) {
      rgb[i * 3] = 10;
      rgb[i * 3 + 1] = green;
      rgb[i * 3 + 2] = 10;
    }
    uint8_t* encoded = nullptr;
    const size_t size = WebPEncodeRGB(rgb.data(), width, height, width * 3, 90, &encoded);
    ASSERT_GT(size, 12u);
    // The still file's chunks, past "RIFF" <size> "WEBP": its VP8 chunk.
    const std::string still(reinterpret_cast<const char*>(encoded) + 12, size - 12);
    WebPFree(encoded);
    const std::string header = Le24(0) + Le24(0) + Le24(width - 1) + Le24(height - 1) + Le24(100) +
                               char(0);  // At 0,0 for 100 ms, no blending.
    frames += Chunk("ANMF", header + still);
  }
  const std::string vp8x = Chunk("VP8X", std::string(1, char(0x02)) + std::string(3, '\0') +
                                             Le24(width - 1) + Le24(height - 1));
  const std::string anim = Chunk("ANIM", Le32(0xffffffff) + std::string(2, '\0'));
  const std::string body = "WEBP" + vp8x + anim + frames;
  const std::string path = Path("animated.webp");
  WriteAll(path, "RIFF" + Le32(uint32_t(body.size())) + body);

  Thumbnail out;
  RgbImage image;
  ASSERT_TRUE(media::DecodeWebp(path, &out, &image)) << out.error;
  EXPECT_EQ(out.width, width);
  EXPECT_EQ(out.height, height);
  EXPECT_NEAR(PixelAt(image, 50, 50)[1], 200, 8);  // The first frame's green, not the second's.
  Thumbnail thumb = MakeThumbnail(path, "image/webp");
  ASSERT_TRUE(thumb.ok) << thumb.error;
  EXPECT_EQ(thumb.thumb_width, 320u);
  EXPECT_EQ(thumb.thumb_height, 160u);
}

// A few dozen bytes that declare a huge image, in each format: refused from the header, with
// the declared size recorded, before any pixel memory is allocated (core/media/README.md).
TEST_F(ThumbnailTest, DecompressionBombsAreRefusedFromTheHeader) {
  // PNG: a 1×1 image whose IHDR is patched to 65535×65535 (CRC recomputed).
  std::string png = ReadAll(WritePng(1, 1));
  ASSERT_EQ(png.substr(12, 4), "IHDR");
  PutBigEndian32(png, 16, 65535);
  PutBigEndian32(png, 20, 65535);
  PutBigEndian32(png, 29, Crc32(std::string_view(png).substr(12, 17)));
  // JPEG: a thumbnail's SOF0 patched to 65000×65000.
  Thumbnail small = MakeThumbnail(WritePng(16, 16), "image/png");
  ASSERT_TRUE(small.ok);
  std::string jpeg = small.jpeg;
  const size_t sof = jpeg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  for (size_t at : {sof + 5, sof + 7}) {
    jpeg[at] = static_cast<char>(0xFD);
    jpeg[at + 1] = static_cast<char>(0xE8);
  }
  // GIF: a 1×1 frame on a 65535×65535 logical screen; and a 10×10 screen whose frame claims
  // 60000×60000.
  const std::string gif_screen = WriteGif(Path("screen.gif"), 1, 1, false, 65535, 65535);
  const std::string gif_frame = WriteGif(Path("frame.gif"), 60000, 1, false, 10, 10);
  std::string gif_frame_bytes = ReadAll(gif_frame);
  // The first image descriptor (after the 13-byte header, the 12-byte colour table and the
  // 8-byte GCE): ',' left top width height; its height patched from 1 to 60000.
  const size_t descriptor = 13 + 12 + 8;
  ASSERT_EQ(gif_frame_bytes[descriptor], ',');
  gif_frame_bytes[descriptor + 7] = static_cast<char>(60000 & 0xFF);
  gif_frame_bytes[descriptor + 8] = static_cast<char>(60000 >> 8);
  // WebP: a 16×16 lossy image whose VP8 frame header is patched to 16383×16383.
  std::vector<uint8_t> rgb(16 * 16 * 3, 100);
  uint8_t* encoded = nullptr;
  const size_t size = WebPEncodeRGB(rgb.data(), 16, 16, 16 * 3, 80, &encoded);
  std::string webp(reinterpret_cast<const char*>(encoded), size);
  WebPFree(encoded);
  ASSERT_EQ(webp.substr(12, 4), "VP8 ");
  ASSERT_EQ(webp.substr(23, 3), "\x9d\x01\x2a");
  for (size_t at : {26u, 28u}) {
    webp[at] = static_cast<char>(0xFF);
    webp[at + 1] = static_cast<char>(0x3F);
  }
  struct Bomb {
    std::string path;
    const char* type;
    uint32_t width, height;
  };
  const std::vector<Bomb> bombs = {
      {Path("bomb.png"), "image/png", 65535, 65535},
      {Path("bomb.jpg"), "image/jpeg", 65000, 65000},
      {gif_screen, "image/gif", 65535, 65535},
      {Path("bomb-frame.gif"), "image/gif", 10, 10},
      {Path("bomb.webp"), "image/webp", 16383, 16383},
  };
  WriteAll(bombs[0].path, png);
  WriteAll(bombs[1].path, jpeg);
  WriteAll(bombs[3].path, gif_frame_bytes);
  WriteAll(bombs[4].path, webp);
  for (const Bomb& bomb : bombs) {
    EXPECT_LT(ReadAll(bomb.path).size(), 4096u) << bomb.path;
    Thumbnail thumb = MakeThumbnail(bomb.path, bomb.type);
    EXPECT_FALSE(thumb.ok) << bomb.path;
    EXPECT_EQ(thumb.error, "too many pixels") << bomb.path;
    EXPECT_EQ(thumb.width, bomb.width) << bomb.path;
    EXPECT_EQ(thumb.height, bomb.height) << bomb.path;
  }
}

}  // namespace
}  // namespace ringcast
