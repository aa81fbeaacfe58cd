// A still WebP through libwebp's incremental decoder into a buffer of ours, sized from the
// header once its pixel count is allowed: the file is read 64 KiB at a time rather than whole
// (a lossy decode keeps only what it still needs of the input; a lossless one keeps it all,
// at most the file's size, which --max-upload-bytes bounds). An animated one's first frame
// through libwebpdemux, which needs the file whole in memory: up to kMaxAnimatedBytes.
#include <sys/stat.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include <cstdio>
#include <memory>

#include "core/media/decoders.h"

namespace ringcast::media {
namespace {

constexpr size_t kChunkBytes = 64 * 1024;
// Animations are short loops in practice (stickers, reactions); a longer one gets no thumbnail
// rather than that much memory on a worker.
constexpr size_t kMaxAnimatedBytes = 32 << 20;

struct FileCloser {
  void operator()(FILE* file) const { std::fclose(file); }
};

struct DecoderDeleter {
  void operator()(WebPIDecoder* decoder) const { WebPIDelete(decoder); }
};

struct DemuxDeleter {
  void operator()(WebPDemuxer* demuxer) const { WebPDemuxDelete(demuxer); }
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

// Decodes one WebP bitstream held in memory (a still image, or an animation's frame).
bool DecodeInMemory(const uint8_t* data, size_t size, Thumbnail* out, RgbImage* image) {
  WebPBitstreamFeatures features;
  if (WebPGetFeatures(data, size, &features) != VP8_STATUS_OK) {
    out->error = "not a readable WebP frame";
    return false;
  }
  if (!PixelsAllowed(uint32_t(features.width), uint32_t(features.height), out)) return false;
  image->width = static_cast<uint32_t>(features.width);
  image->height = static_cast<uint32_t>(features.height);
  const int channels = features.has_alpha ? 4 : 3;
  const int stride = static_cast<int>(image->width) * channels;
  image->pixels.resize(size_t{image->width} * image->height * channels);
  const uint8_t* decoded =
      features.has_alpha
          ? WebPDecodeRGBAInto(data, size, image->pixels.data(), image->pixels.size(), stride)
          : WebPDecodeRGBInto(data, size, image->pixels.data(), image->pixels.size(), stride);
  if (decoded == nullptr) {
    out->error = "not a readable WebP frame";
    return false;
  }
  if (features.has_alpha) FlattenOntoWhite(image);
  return true;
}

// The first frame of an animation, at its own size (a first frame normally covers the canvas;
// one that does not is shown as it is, not composited).
bool DecodeFirstFrame(FILE* file, Thumbnail* out, RgbImage* image) {
  struct stat info;
  if (fstat(fileno(file), &info) != 0 || size_t(info.st_size) > kMaxAnimatedBytes) {
    out->error = "an animated WebP over 32 MiB";
    return false;
  }
  std::vector<uint8_t> bytes(size_t(info.st_size));
  if (std::fseek(file, 0, SEEK_SET) != 0 ||
      std::fread(bytes.data(), 1, bytes.size(), file) != bytes.size()) {
    out->error = "cannot read the file";
    return false;
  }
  const WebPData whole{bytes.data(), bytes.size()};
  std::unique_ptr<WebPDemuxer, DemuxDeleter> demuxer(WebPDemux(&whole));
  WebPIterator frame;
  if (!demuxer || !WebPDemuxGetFrame(demuxer.get(), 1, &frame)) {
    out->error = "not a readable animated WebP";
    return false;
  }
  const bool decoded = DecodeInMemory(frame.fragment.bytes, frame.fragment.size, out, image);
  WebPDemuxReleaseIterator(&frame);
  return decoded;
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
  if (features.has_animation) return DecodeFirstFrame(file.get(), out, image);
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
