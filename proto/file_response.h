// The pure parts of serving a stored file over HTTP: the Range header (RFC 9110 §14), the
// Content-Disposition header (RFC 6266), and an image type judged by its first bytes.
//
// Pure code: no I/O. Used by the file routes (chat/api/upload_api.cc); unit-tested in
// tests/unit/proto/file_response_test.cc.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ringcast::http {

struct ByteRange {
  enum class Kind : uint8_t {
    kWhole,          // No Range, or one to ignore (malformed, several ranges, not "bytes"): 200.
    kPartial,        // One satisfiable range: 206 with [first, last].
    kUnsatisfiable,  // A valid single range that misses the representation: 416.
  };
  Kind kind = Kind::kWhole;
  uint64_t first = 0;
  uint64_t last = 0;  // Inclusive.
};

// Judges a Range header value against a representation of `size` bytes. Only single ranges
// are served (RFC 9110 §14.2 lets a server ignore Range; a multipart/byteranges answer is not
// worth its weight here): a header with several ranges is answered whole.
ByteRange ParseByteRange(std::string_view header, uint64_t size);

// `Content-Disposition: <inline|attachment>; filename="<ASCII fallback>";
// filename*=UTF-8''<percent-encoded>` (RFC 6266 §4.3, RFC 8187): the fallback replaces every
// byte that is not printable ASCII, '"' or '\\' with '_'.
std::string ContentDisposition(bool inline_disposition, std::string_view filename);

// "image/png", "image/jpeg", "image/gif" or "image/webp" when `head` (a file's first bytes; 12
// are enough) starts with that format's signature; "" otherwise.
std::string_view SniffImageType(std::span<const uint8_t> head);

// Whether a stored type may be shown inline: only the raster images SniffImageType knows (never
// SVG, which runs scripts, nor text/html).
bool InlineSafeType(std::string_view type);

}  // namespace ringcast::http
