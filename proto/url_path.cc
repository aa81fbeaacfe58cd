#include "proto/url_path.h"

namespace ringcast::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool PercentDecode(std::string_view text, std::string* out) {
  out->clear();
  out->reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out->push_back(text[i]);
      continue;
    }
    if (text.size() - i < 3) return false;
    const int high = HexValue(text[i + 1]);
    const int low = HexValue(text[i + 2]);
    if (high < 0 || low < 0) return false;
    out->push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return true;
}

std::optional<std::string_view> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

StaticPath CheckStaticPath(std::string_view path) {
  StaticPath result;
  if (path.empty() || path[0] != '/') return result;  // kMalformed.
  result.trailing_slash = path.back() == '/';
  std::string segment;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view raw = path.substr(start, end - start);
    start = end + 1;
    if (raw.empty()) continue;  // "a//b" and a trailing '/'.
    if (!PercentDecode(raw, &segment)) {
      result.check = PathCheck::kMalformed;
      return result;
    }
    for (char c : segment) {
      const auto byte = static_cast<unsigned char>(c);
      // An encoded '/' would let one segment climb past the checks below ("..%2f.."); a
      // backslash is a separator to some file systems and proxies; NUL ends a C path early.
      if (byte < 0x20 || byte == 0x7F || c == '/' || c == '\\') {
        result.check = PathCheck::kForbidden;
        return result;
      }
    }
    if (segment == "." || segment == "..") {
      result.check = PathCheck::kForbidden;
      return result;
    }
    if (segment[0] == '.') {
      result.check = PathCheck::kHidden;
      return result;
    }
    if (!result.relative.empty()) result.relative.push_back('/');
    result.relative.append(segment);
    if (result.relative.size() > kMaxStaticPath) {
      result.check = PathCheck::kForbidden;
      return result;
    }
  }
  result.check = PathCheck::kOk;
  return result;
}

}  // namespace ringcast::http
