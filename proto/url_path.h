// Request paths and query values as the routes that read files or search by name need them:
// percent-decoding (RFC 3986 §2.1) and a path check that refuses every way out of a directory.
//
// Pure code: no I/O. The HTTP parser hands over the path undecoded (proto/http_parser.h); most
// routes compare it as sent, but a route that maps it onto a file system must decode it first
// and judge what it decodes to, never what it looks like: "/%2e%2e/" is "/../".
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ringcast::http {

// Decodes %XX escapes (either hex case) into `*out`; every other byte is copied as is ('+' stays
// '+': in a path it is not a space). False for a '%' not followed by two hex digits.
bool PercentDecode(std::string_view text, std::string* out);

// The value of `name` in a query string ("a=1&b=2"), undecoded (PercentDecode it); nullopt
// when absent, "" for "name" or "name=". The first occurrence wins.
std::optional<std::string_view> QueryParam(std::string_view query, std::string_view name);

enum class PathCheck : unsigned char {
  kOk,
  kMalformed,  // Not "/..." (an absolute-form or "*" target), or a '%' that is not an escape.
  kForbidden,  // A NUL, control byte, backslash, encoded '/', "." or ".." segment, or too long.
  kHidden,     // A segment that starts with '.' (".git", ".env"): never served, looks absent.
};

struct StaticPath {
  PathCheck check = PathCheck::kMalformed;
  // kOk: the path relative to the root, segments joined by '/', no leading or trailing '/',
  // no empty segment ("" is the root itself). Empty segments of the request ("a//b") are
  // dropped.
  std::string relative;
  bool trailing_slash = false;  // The request named a directory ("/", "/docs/").
};

// The longest decoded path accepted (PATH_MAX is 4096; nothing served needs a tenth of it).
inline constexpr size_t kMaxStaticPath = 1024;

// Checks a request path (the part of the target before '?', undecoded) for a file route. Each
// segment is judged after decoding, so an encoded dot, slash or NUL is refused like a plain one
// and nothing that resolves upwards ever reaches the file system; symbolic links are the file
// reader's to refuse (it opens beneath the root: core/routes/static_files.h).
StaticPath CheckStaticPath(std::string_view path);

}  // namespace ringcast::http
