#include "core/media/thumbnail.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

// clang-format off
#include <jpeglib.h>  // After <cstdio>: it uses FILE without including it.
#include <png.h>
// clang-format on

#include "core/media/decoders.h"

namespace ringcast {
namespace media {

bool PixelsAllowed(uint64_t width, uint64_t height, Thumbnail* out) {
  if (width * height <= kThumbnailMaxPixels) return true;
  out->error = "too many pixels";
  return false;
}

}  // namespace media

namespace {

using media::RgbImage;

struct FileCloser {
  void operator()(FILE* file) const { std::fclose(file); }
};

// libjpeg reports errors through a callback that must not return: back to the setjmp.
struct JpegError {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
};

[[noreturn]] void OnJpegError(j_common_ptr info) {
  std::longjmp(reinterpret_cast<JpegError*>(info->err)->jump, 1);
}

bool DecodeJpeg(const std::string& path, Thumbnail* out, RgbImage* image) {
  std::unique_ptr<FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    out->error = "cannot open the file";
    return false;
  }
  jpeg_decompress_struct info;
  JpegError error;
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = OnJpegError;
  if (setjmp(error.jump) != 0) {
    jpeg_destroy_decompress(&info);
    out->error = "not a readable JPEG";
    return false;
  }
  jpeg_create_decompress(&info);
  jpeg_stdio_src(&info, file.get());
  jpeg_read_header(&info, TRUE);
  out->width = info.image_width;
  out->height = info.image_height;
  if (!media::PixelsAllowed(info.image_width, info.image_height, out)) {
    jpeg_destroy_decompress(&info);
    return false;
  }
  const uint32_t long_side = std::max(info.image_width, info.image_height);
  unsigned denom = 1;
  while (denom < 8 && long_side / (denom * 2) >= kThumbnailLongSide) denom *= 2;
  info.scale_num = 1;
  info.scale_denom = denom;
  info.out_color_space = JCS_RGB;
  jpeg_start_decompress(&info);
  image->width = info.output_width;
  image->height = info.output_height;
  image->pixels.resize(size_t{image->width} * image->height * 3);
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = image->pixels.data() + size_t{info.output_scanline} * image->width * 3;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return true;
}

bool DecodePng(const std::string& path, Thumbnail* out, RgbImage* image) {
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&png, path.c_str())) {
    out->error = "not a readable PNG";
    return false;
  }
  out->width = png.width;
  out->height = png.height;
  if (!media::PixelsAllowed(png.width, png.height, out)) {
    png_image_free(&png);
    return false;
  }
  png.format = PNG_FORMAT_RGB;  // Transparency composited onto white (below).
  image->width = png.width;
  image->height = png.height;
  image->pixels.resize(PNG_IMAGE_SIZE(png));
  png_color white{255, 255, 255};
  if (!png_image_finish_read(&png, &white, image->pixels.data(), 0, nullptr)) {
    png_image_free(&png);
    out->error = "not a readable PNG";
    return false;
  }
  return true;
}

// Box filter: each output pixel is the mean of the input pixels it covers (the right filter
// for a large reduction; no ringing, no aliasing worth the name at this size).
RgbImage Shrink(const RgbImage& in, uint32_t width, uint32_t height) {
  RgbImage out{width, height, std::vector<uint8_t>(size_t{width} * height * 3)};
  for (uint32_t y = 0; y < height; ++y) {
    const uint32_t y0 = static_cast<uint32_t>(uint64_t{y} * in.height / height);
    const uint32_t y1 =
        std::max(y0 + 1, static_cast<uint32_t>(uint64_t{y + 1} * in.height / height));
    for (uint32_t x = 0; x < width; ++x) {
      const uint32_t x0 = static_cast<uint32_t>(uint64_t{x} * in.width / width);
      const uint32_t x1 =
          std::max(x0 + 1, static_cast<uint32_t>(uint64_t{x + 1} * in.width / width));
      uint64_t sum[3] = {0, 0, 0};
      for (uint32_t yy = y0; yy < y1; ++yy) {
        const uint8_t* row = in.pixels.data() + (size_t{yy} * in.width + x0) * 3;
        for (uint32_t xx = x0; xx < x1; ++xx, row += 3) {
          sum[0] += row[0];
          sum[1] += row[1];
          sum[2] += row[2];
        }
      }
      const uint64_t count = uint64_t{y1 - y0} * (x1 - x0);
      uint8_t* pixel = out.pixels.data() + (size_t{y} * width + x) * 3;
      for (int c = 0; c < 3; ++c) pixel[c] = static_cast<uint8_t>(sum[c] / count);
    }
  }
  return out;
}

bool EncodeJpeg(const RgbImage& image, std::string* out) {
  jpeg_compress_struct info;
  JpegError error;
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = OnJpegError;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (setjmp(error.jump) != 0) {
    jpeg_destroy_compress(&info);
    std::free(buffer);
    return false;
  }
  jpeg_create_compress(&info);
  jpeg_mem_dest(&info, &buffer, &size);
  info.image_width = image.width;
  info.image_height = image.height;
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, 80, TRUE);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    JSAMPROW row =
        const_cast<uint8_t*>(image.pixels.data()) + size_t{info.next_scanline} * image.width * 3;
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  out->assign(reinterpret_cast<const char*>(buffer), size);
  std::free(buffer);
  return true;
}

}  // namespace

Thumbnail MakeThumbnail(const std::string& path, std::string_view type) {
  Thumbnail out;
  RgbImage image;
  bool decoded = false;
  if (type == "image/jpeg") {
    decoded = DecodeJpeg(path, &out, &image);
  } else if (type == "image/png") {
    decoded = DecodePng(path, &out, &image);
  } else if (type == "image/gif") {
    decoded = media::DecodeGif(path, &out, &image);
  } else if (type == "image/webp") {
    decoded = media::DecodeWebp(path, &out, &image);
  } else {
    out.error = "no thumbnails of this type";
  }
  if (!decoded || image.width == 0 || image.height == 0) return out;
  // Never enlarged: a small image is its own thumbnail's size.
  const uint32_t long_side = std::max(image.width, image.height);
  const uint32_t target = std::min(long_side, kThumbnailLongSide);
  uint32_t width = static_cast<uint32_t>(uint64_t{image.width} * target / long_side);
  uint32_t height = static_cast<uint32_t>(uint64_t{image.height} * target / long_side);
  width = std::max<uint32_t>(width, 1);
  height = std::max<uint32_t>(height, 1);
  const RgbImage small = width == image.width && height == image.height
                             ? std::move(image)
                             : Shrink(image, width, height);
  if (!EncodeJpeg(small, &out.jpeg)) {
    out.error = "cannot encode the thumbnail";
    return out;
  }
  out.ok = true;
  out.thumb_width = width;
  out.thumb_height = height;
  return out;
}

}  // namespace ringcast
