// MakeThumbnail: a small JPEG of a PNG, JPEG, GIF or WebP image (an animation's first frame)
// (kThumbnailLongSide px on its long side), for chat previews (chat/api/upload_api.h).
//
// Owner: none (a pure function of a file); it blocks on the disk and the CPU, so it runs on the
// worker pool, never on a shard thread. Memory is bounded: an image that declares more than
// kThumbnailMaxPixels is not decoded, whatever its format (its size is still reported): a
// decompression bomb costs a header read (core/media/decoders.h). A JPEG is decoded at the smallest
// DCT scale that is still at least kLongSide (libjpeg's scale_denom: 1/2, 1/4, 1/8), so a 24 MP
// photo costs a 3 MP decode.
//
// libjpeg-turbo, libpng, giflib and libwebp rather than libvips (core/media/README.md says
// why): a thumbnail needs a decode, a box filter and an encode.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ringcast {

struct Thumbnail {
  bool ok = false;     // A thumbnail was made (`jpeg` holds it).
  uint32_t width = 0;  // The image's, whenever its header could be read.
  uint32_t height = 0;
  uint32_t thumb_width = 0;
  uint32_t thumb_height = 0;
  std::string jpeg;
  std::string error;  // Why not, for the log.
};

inline constexpr uint32_t kThumbnailLongSide = 320;
inline constexpr uint64_t kThumbnailMaxPixels = 50'000'000;

// `type`: "image/png", "image/jpeg", "image/gif" or "image/webp" (anything else: not ok,
// nothing read). The type is the stored one, which the file's magic bytes were checked against.
Thumbnail MakeThumbnail(const std::string& path, std::string_view type);

}  // namespace ringcast
