// HTTP/1.1 request-head parser (RFC 9112) over string_views into the caller's buffer.
//
// Pure code: no I/O, no allocation. The parser is stateless between calls: the caller hands it
// everything received so far for the current request head and gets back kNeedMore until the
// blank line that ends the head has arrived. Re-scanning a partial head is cheap because heads
// are small and capped (Limits::max_header_bytes); it keeps the common case (a whole request in
// one receive buffer) zero-copy with no per-connection parser state.
//
// Every string_view in Request points into the input and is valid as long as that input is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringcast::http {

enum class Method : uint8_t { kGet, kHead, kPost, kPut, kDelete, kOptions, kPatch, kOther };

// "GET", "HEAD", ... as a request line spells it; "" for kOther.
std::string_view MethodName(Method method);

struct Header {
  std::string_view name;
  std::string_view value;  // Leading and trailing whitespace (SP / HTAB) trimmed.
};

inline constexpr size_t kMaxHeaders = 64;

// `text` without the optional whitespace (RFC 9110 §5.6.3: spaces and tabs) around it, as in
// the elements of a header's list value.
inline std::string_view TrimOws(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

struct Request {
  Method method = Method::kOther;
  std::string_view method_text;
  std::string_view target;  // As sent: path plus optional "?query".
  std::string_view path;    // target up to '?'.
  std::string_view query;   // After '?', without it; empty when absent.
  int version_minor = 1;    // HTTP/1.<minor>; only 1.0 and 1.1 are accepted.
  Header headers[kMaxHeaders];
  size_t header_count = 0;
  uint64_t content_length = 0;  // 0 when the header is absent.
  bool keep_alive = true;       // From version and the Connection header.

  // First header with this name (ASCII case-insensitive), or an empty view with data()==nullptr.
  std::string_view Find(std::string_view name) const;
};

struct Limits {
  size_t max_header_bytes = 8192;  // Whole head: request line + headers + blank line.
  uint64_t max_body_bytes = 1 << 20;
};

enum class Status : uint8_t { kOk, kNeedMore, kError };

struct ParseResult {
  Status status = Status::kNeedMore;
  size_t consumed = 0;            // kOk: bytes of the head, including the final CRLFCRLF.
  int error_status = 0;           // kError: the HTTP status to answer (400, 413, 431, 501, 505).
  std::string_view error_reason;  // kError: a short static English reason for logs and the body.
};

// Parses the head at the start of `input`.
// - kNeedMore when the head is incomplete and still within max_header_bytes
//   (431 once input holds more than max_header_bytes without a complete head).
// - 400 for a malformed request line or header (bad token chars, missing colon, obs-fold,
//   bare LF handling is accepted: a lone '\n' ends a line like CRLF, as RFC 9112 §2.2 allows),
//   duplicate or invalid Content-Length, Transfer-Encoding together with Content-Length (a
//   smuggling signal, RFC 9112 §6.3), an HTTP/1.1 request without Host or any request with more
//   than one Host line (RFC 9112 §3.2).
// - 413 when Content-Length exceeds max_body_bytes; 431 when more than kMaxHeaders headers or the
//   head exceeds max_header_bytes; 501 for Transfer-Encoding without Content-Length (chunked
//   request bodies are not supported); 505 for a version other than HTTP/1.0 or HTTP/1.1.
ParseResult ParseRequest(std::string_view input, const Limits& limits, Request* out);

// ASCII case-insensitive equality, for header names and tokens.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// True when the comma-separated header value contains `token` (case-insensitive, OWS trimmed),
// e.g. HasToken("keep-alive, Upgrade", "upgrade").
bool HasToken(std::string_view header_value, std::string_view token);

// Canonical reason phrase (RFC 9110 §15) for every status the server sends ("Not Found");
// "Unknown" for any other code.
std::string_view ReasonPhrase(int status);

}  // namespace ringcast::http
