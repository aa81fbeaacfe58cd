// A still WebP through libwebp's incremental decoder into a buffer of ours, sized from the
// header once its pixel count is allowed: the file is read 64 KiB at a time rather than whole
// (a lossy decode keeps only what it still needs of the input; a lossless one keeps it all,
// at most the file's size, which --max-upload-bytes bounds).
#include <webp/decode.h>

#include <cstdio>
#include <memory>

#include "core/media/decoders.h"

namespace ringcast::media {
namespace {

constexpr size_t kChunkBytes = 64 * 1024;

struct FileCloser {
  void operator()(FILE* file) const { std::fclose(file); }
};

struct DecoderDeleter {
  void operator()(WebPIDecoder* decoder) const { WebPIDelete(decoder); }
};

// RGBA rows → RGB in place, transparency composited onto white (as PNG's are).
void FlattenOntoWhite(RgbImage* image) {
  const size_t pixels = size_t{image->width} * image->height;
  uint8_t* data = image->pixels.data();
  for (size_t i = 0; i < pixels; ++i) {
    const uint32_t alpha = data[i * 4 + 3];
    for (int c = 0; c < 3; ++c) {
      data[i * 3 + c] = static_cast<uint8_t>((data[i * 4 + c] * alpha + 255 * (255 - alpha)) / 255);
    }
  }
  image->pixels.resize(pixels * 3);
}

}  // namespace

bool DecodeWebp(const std::string& path, Thumbnail* out, RgbImage* image) {
  std::unique_ptr<FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    out->error = "cannot open the file";
    return false;
  }
  std::vector<uint8_t> chunk(kChunkBytes);
  size_t got = std::fread(chunk.data(), 1, chunk.size(), file.get());
  WebPBitstreamFeatures features;
  if (WebPGetFeatures(chunk.data(), got, &features) != VP8_STATUS_OK) {
    out->error = "not a readable WebP";
    return false;
  }
  out->width = static_cast<uint32_t>(features.width);
  out->height = static_cast<uint32_t>(features.height);
  if (!PixelsAllowed(out->width, out->height, out)) return false;
  if (features.has_animation) {
    out->error = "an animated WebP";
    return false;
  }
  const int channels = features.has_alpha ? 4 : 3;
  image->width = out->width;
  image->height = out->height;
  image->pixels.resize(size_t{image->width} * image->height * channels);
  WebPDecBuffer output;
  WebPInitDecBuffer(&output);
  output.colorspace = features.has_alpha ? MODE_RGBA : MODE_RGB;
  output.is_external_memory = 1;
  output.u.RGBA.rgba = image->pixels.data();
  output.u.RGBA.stride = static_cast<int>(image->width) * channels;
  output.u.RGBA.size = image->pixels.size();
  std::unique_ptr<WebPIDecoder, DecoderDeleter> decoder(WebPINewDecoder(&output));
  if (!decoder) {
    out->error = "cannot start a WebP decoder";
    return false;
  }
  for (;;) {
    const VP8StatusCode status = WebPIAppend(decoder.get(), chunk.data(), got);
    if (status == VP8_STATUS_OK) break;
    if (status != VP8_STATUS_SUSPENDED || got == 0) {
      out->error = "not a readable WebP";
      return false;
    }
    got = std::fread(chunk.data(), 1, chunk.size(), file.get());
  }
  if (features.has_alpha) FlattenOntoWhite(image);
  return true;
}

}  // namespace ringcast::media
