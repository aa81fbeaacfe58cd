// The first frame of a GIF, through giflib's record-level API rather than DGifSlurp: Slurp
// reads (and allocates) every frame of an animation, of which a thumbnail needs one.
#include <gif_lib.h>

#include <algorithm>
#include <memory>

#include "core/media/decoders.h"

namespace ringcast::media {
namespace {

struct GifCloser {
  void operator()(GifFileType* gif) const {
    int error = 0;
    DGifCloseFile(gif, &error);
  }
};

// Skips an extension's sub-blocks, reading the transparent colour from a Graphic Control
// Extension (GIF89a §23) on the way: it applies to the image that follows.
bool ReadExtension(GifFileType* gif, int* transparent) {
  int code = 0;
  GifByteType* block = nullptr;
  if (DGifGetExtension(gif, &code, &block) != GIF_OK) return false;
  if (code == GRAPHICS_EXT_FUNC_CODE && block != nullptr) {
    GraphicsControlBlock control;
    if (DGifExtensionToGCB(block[0], block + 1, &control) == GIF_OK) {
      *transparent = control.TransparentColor;
    }
  }
  while (block != nullptr) {
    if (DGifGetExtensionNext(gif, &block) != GIF_OK) return false;
  }
  return true;
}

}  // namespace

bool DecodeGif(const std::string& path, Thumbnail* out, RgbImage* image) {
  int error = 0;
  std::unique_ptr<GifFileType, GifCloser> gif(DGifOpenFileName(path.c_str(), &error));
  if (!gif) {
    out->error = "not a readable GIF";
    return false;
  }
  out->width = static_cast<uint32_t>(gif->SWidth);
  out->height = static_cast<uint32_t>(gif->SHeight);
  if (!PixelsAllowed(out->width, out->height, out)) return false;
  int transparent = NO_TRANSPARENT_COLOR;
  for (;;) {
    GifRecordType record;
    if (DGifGetRecordType(gif.get(), &record) != GIF_OK) break;
    if (record == EXTENSION_RECORD_TYPE) {
      if (!ReadExtension(gif.get(), &transparent)) break;
      continue;
    }
    if (record != IMAGE_DESC_RECORD_TYPE) break;  // The trailer (or junk): no image.
    if (DGifGetImageDesc(gif.get()) != GIF_OK) break;
    const GifImageDesc& frame = gif->Image;
    const ColorMapObject* colors = frame.ColorMap != nullptr ? frame.ColorMap : gif->SColorMap;
    // A frame may claim more than the screen: it is clipped to it, but read whole.
    if (colors == nullptr || frame.Width <= 0 || frame.Height <= 0 ||
        !PixelsAllowed(uint64_t(frame.Width), uint64_t(frame.Height), out)) {
      break;
    }
    image->width = out->width;
    image->height = out->height;
    image->pixels.assign(size_t{image->width} * image->height * 3, 255);  // White.
    std::vector<GifPixelType> line(static_cast<size_t>(frame.Width));
    // Interlaced rows come in four passes (GIF89a appendix E): every 8th from 0, every 8th
    // from 4, every 4th from 2, every 2nd from 1.
    static constexpr int kStart[] = {0, 4, 2, 1};
    static constexpr int kStep[] = {8, 8, 4, 2};
    const int passes = frame.Interlace ? 4 : 1;
    for (int pass = 0; pass < passes; ++pass) {
      const int step = frame.Interlace ? kStep[pass] : 1;
      for (int row = frame.Interlace ? kStart[pass] : 0; row < frame.Height; row += step) {
        if (DGifGetLine(gif.get(), line.data(), frame.Width) != GIF_OK) {
          out->error = "a truncated GIF";
          return false;
        }
        const int64_t y = int64_t{frame.Top} + row;
        if (y < 0 || y >= int64_t{image->height}) continue;
        uint8_t* dest = image->pixels.data() + size_t(y) * image->width * 3;
        for (int x = 0; x < frame.Width; ++x) {
          const int64_t at = int64_t{frame.Left} + x;
          const int index = line[static_cast<size_t>(x)];
          if (at < 0 || at >= int64_t{image->width} || index == transparent ||
              index >= colors->ColorCount) {
            continue;
          }
          const GifColorType& color = colors->Colors[index];
          uint8_t* pixel = dest + size_t(at) * 3;
          pixel[0] = color.Red;
          pixel[1] = color.Green;
          pixel[2] = color.Blue;
        }
      }
    }
    return true;
  }
  if (out->error.empty()) out->error = "a GIF without a readable image";
  return false;
}

}  // namespace ringcast::media
