#include "proto/file_response.h"

#include <charconv>
#include <cstdio>
#include <cstring>

#include "proto/http_parser.h"

namespace ringcast::http {
namespace {

bool ParseDecimal(std::string_view text, uint64_t* out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool StartsWith(std::span<const uint8_t> head, std::string_view prefix, size_t at = 0) {
  return head.size() >= at + prefix.size() &&
         std::memcmp(head.data() + at, prefix.data(), prefix.size()) == 0;
}

}  // namespace

ByteRange ParseByteRange(std::string_view header, uint64_t size) {
  ByteRange whole;
  header = TrimOws(header);
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() <= kUnit.size()) return whole;
  for (size_t i = 0; i < kUnit.size(); ++i) {  // The unit is case-insensitive (§14.1).
    char c = header[i];
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (c != kUnit[i]) return whole;
  }
  const std::string_view spec = TrimOws(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return whole;
  const size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return whole;
  const std::string_view first_text = TrimOws(spec.substr(0, dash));
  const std::string_view last_text = TrimOws(spec.substr(dash + 1));
  ByteRange range;
  range.kind = ByteRange::Kind::kPartial;
  if (first_text.empty()) {  // A suffix range: the last N bytes (§14.1.2).
    uint64_t suffix;
    if (!ParseDecimal(last_text, &suffix)) return whole;
    if (suffix == 0 || size == 0) return {ByteRange::Kind::kUnsatisfiable, 0, 0};
    range.first = suffix >= size ? 0 : size - suffix;
    range.last = size - 1;
    return range;
  }
  uint64_t first;
  if (!ParseDecimal(first_text, &first)) return whole;
  uint64_t last = UINT64_MAX;
  if (!last_text.empty() && !ParseDecimal(last_text, &last)) return whole;
  if (last < first) return whole;  // Invalid: ignored (§14.1.1).
  if (first >= size) return {ByteRange::Kind::kUnsatisfiable, 0, 0};
  range.first = first;
  range.last = last >= size ? size - 1 : last;
  return range;
}

std::string ContentDisposition(bool inline_disposition, std::string_view filename) {
  std::string out = inline_disposition ? "inline" : "attachment";
  out.append("; filename=\"");
  for (char c : filename) {
    const auto byte = static_cast<unsigned char>(c);
    out.push_back(byte >= 0x20 && byte < 0x7F && c != '"' && c != '\\' ? c : '_');
  }
  out.append("\"; filename*=UTF-8''");
  // RFC 8187 §3.2.1 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"; everything else escaped.
  for (char c : filename) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
        (byte >= '0' && byte <= '9') || std::strchr("!#$&+-.^_`|~", c) != nullptr) {
      if (byte != 0) {
        out.push_back(c);
        continue;
      }
    }
    char escaped[4];
    std::snprintf(escaped, sizeof(escaped), "%%%02X", byte);
    out.append(escaped);
  }
  return out;
}

std::string_view SniffImageType(std::span<const uint8_t> head) {
  if (StartsWith(head, "\x89PNG\r\n\x1a\n")) return "image/png";
  if (StartsWith(head, "\xFF\xD8\xFF")) return "image/jpeg";
  if (StartsWith(head, "GIF87a") || StartsWith(head, "GIF89a")) return "image/gif";
  if (StartsWith(head, "RIFF") && StartsWith(head, "WEBP", 8)) return "image/webp";
  return {};
}

bool InlineSafeType(std::string_view type) {
  return type == "image/png" || type == "image/jpeg" || type == "image/gif" || type == "image/webp";
}

}  // namespace ringcast::http
