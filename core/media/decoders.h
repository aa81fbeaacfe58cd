// The image decoders behind MakeThumbnail (core/media/thumbnail.h), one per source format:
// each reads a file into 8-bit RGB (transparency composited onto white) and records the
// image's size in `out` as soon as its header is read. Internal to core/media.
//
// Owner: none (pure functions of a file); they block, so they run on the worker pool. Every
// decoder reads the declared size first and refuses, before allocating anything for pixels,
// an image of more than kThumbnailMaxPixels: a small file that declares a huge image (a
// decompression bomb) costs a header read, never its pixels' memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/media/thumbnail.h"

namespace ringcast::media {

struct RgbImage {
  uint32_t width = 0;
  uint32_t height = 0;
  std::vector<uint8_t> pixels;  // RGB, 3 bytes a pixel, rows packed.
};

// Whether width × height may be decoded (kThumbnailMaxPixels); sets out->error when not.
bool PixelsAllowed(uint64_t width, uint64_t height, Thumbnail* out);

// The first frame of a GIF (giflib), on a canvas of the logical screen's size.
bool DecodeGif(const std::string& path, Thumbnail* out, RgbImage* image);
// A WebP, lossy or lossless: a still one through libwebp's incremental decoder, fed 64 KiB at
// a time; an animated one's first frame (libwebpdemux: the file whole, up to 32 MiB).
bool DecodeWebp(const std::string& path, Thumbnail* out, RgbImage* image);

}  // namespace ringcast::media
