// HTTP/1.1 request-head parser (RFC 9112). See http_parser.h for the contract.
//
// One pass, line by line: each complete line is validated as soon as its terminator is found,
// so a malformed request is rejected without waiting for the rest of the head. Only complete
// lines are judged, which keeps every prefix of a valid head a kNeedMore.
#include "proto/http_parser.h"

#include <array>
#include <cstring>

namespace ringcast::http {
namespace {

// tchar (RFC 9110 §5.6.2): "!#$%&'*+-.^_`|~", DIGIT, ALPHA.
constexpr std::array<bool, 256> MakeTokenTable() {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<uint8_t>(c)] = true;
  return table;
}
constexpr std::array<bool, 256> kTokenChar = MakeTokenTable();

// field-value characters (RFC 9110 §5.5): VCHAR, obs-text, SP, HTAB. CR, LF, NUL and the other
// controls are rejected ("MUST either reject or replace"; we reject).
constexpr std::array<bool, 256> MakeFieldValueTable() {
  std::array<bool, 256> table{};
  for (int c = 0x20; c < 0x7F; ++c) table[c] = true;
  for (int c = 0x80; c <= 0xFF; ++c) table[c] = true;
  table['\t'] = true;
  return table;
}
constexpr std::array<bool, 256> kFieldValueChar = MakeFieldValueTable();

// True when every byte of `s` is a field-value character. Header values are most of a head's
// bytes, so they are checked eight at a time: a word with no byte below 0x20 and no 0x7F is
// clean (bit tricks from "Bit Twiddling Hacks": hasless / haszero, both exact for "any").
// Words holding an HTAB or a bad byte fall back to the table.
bool IsFieldValue(std::string_view s) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHighs = 0x8080808080808080ull;
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighs;
    const uint64_t del = w ^ (kOnes * 0x7F);
    const uint64_t is_del = (del - kOnes) & ~del & kHighs;
    if ((below_space | is_del) == 0) continue;
    for (size_t k = i; k < i + 8; ++k) {
      if (!kFieldValueChar[static_cast<uint8_t>(s[k])]) return false;
    }
  }
  for (; i < s.size(); ++i) {
    if (!kFieldValueChar[static_cast<uint8_t>(s[i])]) return false;
  }
  return true;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!kTokenChar[static_cast<uint8_t>(c)]) return false;
  }
  return true;
}

constexpr bool IsOws(char c) { return c == ' ' || c == '\t'; }

constexpr char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// In Method's order.
constexpr std::string_view kMethodNames[] = {"GET",    "HEAD",    "POST", "PUT",
                                             "DELETE", "OPTIONS", "PATCH"};

Method ParseMethod(std::string_view m) {
  // Methods are case-sensitive (RFC 9110 §9.1).
  for (size_t i = 0; i < std::size(kMethodNames); ++i) {
    if (m == kMethodNames[i]) return static_cast<Method>(i);
  }
  return Method::kOther;
}

ParseResult Error(int status, std::string_view reason) {
  ParseResult r;
  r.status = Status::kError;
  r.error_status = status;
  r.error_reason = reason;
  return r;
}

// request-line = method SP request-target SP HTTP-version (RFC 9112 §3). Strict single spaces:
// the lenient whitespace parsing of §3 is optional and only widens request-smuggling surface.
ParseResult ParseRequestLine(std::string_view line, Request* out) {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Error(400, "malformed request line");
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return Error(400, "malformed request line");
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method)) return Error(400, "malformed request method");
  // request-target (RFC 9112 §3.2): non-empty, visible ASCII only (RFC 3986 has no raw
  // non-ASCII, spaces or controls; clients percent-encode them).
  if (target.empty()) return Error(400, "empty request target");
  for (char c : target) {
    const auto u = static_cast<uint8_t>(c);
    if (u <= 0x20 || u >= 0x7F) return Error(400, "malformed request target");
  }
  // HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3). Well-formed but unsupported → 505.
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return Error(400, "malformed HTTP version");
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    return Error(505, "HTTP version not supported");
  }
  out->method = ParseMethod(method);
  out->method_text = method;
  out->target = target;
  const size_t q = target.find('?');
  out->path = target.substr(0, q);
  out->query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  out->version_minor = version[7] - '0';
  ParseResult ok;
  ok.status = Status::kOk;
  return ok;
}

// Content-Length = 1*DIGIT (RFC 9110 §8.6). A list ("5, 5") is rejected rather than collapsed.
// Values too large for uint64 saturate: they are well-formed, just over any body limit.
bool ParseContentLength(std::string_view value, uint64_t* out) {
  if (value.empty()) return false;
  uint64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    n = n > (UINT64_MAX - digit) / 10 ? UINT64_MAX : n * 10 + digit;
  }
  *out = n;
  return true;
}

}  // namespace

std::string_view MethodName(Method method) {
  const auto index = static_cast<size_t>(method);
  return index < std::size(kMethodNames) ? kMethodNames[index] : std::string_view();
}

std::string_view Request::Find(std::string_view name) const {
  for (size_t i = 0; i < header_count; ++i) {
    if (EqualsIgnoreCase(headers[i].name, name)) return headers[i].value;
  }
  return {};
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLower(a[i]) != ToLower(b[i])) return false;
  }
  return true;
}

bool HasToken(std::string_view header_value, std::string_view token) {
  // #rule lists (RFC 9110 §5.6.1): elements separated by commas with optional whitespace; empty
  // elements are allowed and ignored.
  while (!header_value.empty()) {
    const size_t comma = header_value.find(',');
    const std::string_view element = TrimOws(header_value.substr(0, comma));
    if (EqualsIgnoreCase(element, token)) return true;
    if (comma == std::string_view::npos) break;
    header_value.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";  // RFC 9110 §15.5.14 (was "Payload Too Large").
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

ParseResult ParseRequest(std::string_view input, const Limits& limits, Request* out) {
  // Nothing past max_header_bytes can belong to an acceptable head, so never scan beyond it:
  // this bounds the work of re-parsing a slowly arriving head.
  const bool over_limit = input.size() > limits.max_header_bytes;
  const std::string_view window = input.substr(0, limits.max_header_bytes);
  auto need_more = [&]() {
    if (over_limit) return Error(431, "request head too large");
    return ParseResult{};
  };

  out->header_count = 0;
  out->content_length = 0;
  bool saw_request_line = false;
  bool saw_content_length = false;
  bool saw_transfer_encoding = false;
  bool saw_host = false;
  bool connection_close = false;
  bool connection_keep_alive = false;

  size_t pos = 0;
  for (;;) {
    const size_t lf = window.find('\n', pos);
    if (lf == std::string_view::npos) return need_more();
    // A line ends with CRLF or, leniently, a bare LF (RFC 9112 §2.2).
    std::string_view line = window.substr(pos, lf - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = lf + 1;
    // A bare CR anywhere else is invalid (RFC 9112 §2.2: reject or replace; we reject). No
    // separate scan is needed: CR is neither a tchar, a target character nor a field-value
    // character, so the checks below reject it wherever it appears.

    if (!saw_request_line) {
      // Empty lines before the request line are ignored (RFC 9112 §2.2, "SHOULD ignore at least
      // one"): some clients send a stray CRLF after a body.
      if (line.empty()) continue;
      ParseResult r = ParseRequestLine(line, out);
      if (r.status != Status::kOk) return r;
      saw_request_line = true;
      continue;
    }

    if (line.empty()) break;  // End of the head.

    // obs-fold (RFC 9112 §5.2): a server not inside a message/http container MUST reject it.
    if (IsOws(line.front())) return Error(400, "obsolete line folding");
    // field-name = token, then ':' at once: no whitespace is allowed before the colon
    // (RFC 9112 §5.1), so the first non-tchar must be the colon.
    size_t colon = 0;
    while (colon < line.size() && kTokenChar[static_cast<uint8_t>(line[colon])]) ++colon;
    if (colon == line.size()) return Error(400, "header without colon");
    if (line[colon] != ':' || colon == 0) return Error(400, "malformed header name");
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = TrimOws(line.substr(colon + 1));
    if (!IsFieldValue(value)) return Error(400, "malformed header value");
    if (out->header_count == kMaxHeaders) return Error(431, "too many headers");
    out->headers[out->header_count++] = Header{name, value};

    // Only four names matter here; their lengths differ, so the length picks the candidate.
    constexpr std::string_view kContentLength = "content-length";
    constexpr std::string_view kTransferEncoding = "transfer-encoding";
    constexpr std::string_view kHost = "host";
    constexpr std::string_view kConnection = "connection";
    static_assert(kContentLength.size() != kTransferEncoding.size() &&
                  kHost.size() != kConnection.size() &&
                  kContentLength.size() != kConnection.size());
    if (name.size() != kContentLength.size() && name.size() != kTransferEncoding.size() &&
        name.size() != kHost.size() && name.size() != kConnection.size()) {
      continue;
    }
    if (EqualsIgnoreCase(name, kContentLength)) {
      // Duplicates are rejected outright: differing values are a smuggling vector (RFC 9112
      // §6.3 item 5) and identical ones are never needed.
      if (saw_content_length) return Error(400, "duplicate Content-Length");
      saw_content_length = true;
      if (!ParseContentLength(value, &out->content_length)) {
        return Error(400, "invalid Content-Length");
      }
      if (out->content_length > limits.max_body_bytes) return Error(413, "request body too large");
    } else if (EqualsIgnoreCase(name, kTransferEncoding)) {
      saw_transfer_encoding = true;
    } else if (EqualsIgnoreCase(name, kHost)) {
      // RFC 9112 §3.2: more than one Host line MUST be answered with 400.
      if (saw_host) return Error(400, "duplicate Host");
      saw_host = true;
    } else if (EqualsIgnoreCase(name, kConnection)) {
      connection_close |= HasToken(value, "close");
      connection_keep_alive |= HasToken(value, "keep-alive");
    }
  }

  // Transfer-Encoding with Content-Length is a request-smuggling signal that "ought to be
  // handled as an error" (RFC 9112 §6.3 item 3): 400, and the connection closes. Alone it means
  // a chunked or otherwise coded body, which this server does not accept: 501 (RFC 9112 §6.1).
  if (saw_transfer_encoding) {
    if (saw_content_length) return Error(400, "Transfer-Encoding with Content-Length");
    return Error(501, "Transfer-Encoding not supported");
  }
  // RFC 9112 §3.2: an HTTP/1.1 request without Host MUST be answered with 400 (HTTP/1.0 had
  // no Host, so it may omit it).
  if (!saw_host && out->version_minor == 1) return Error(400, "missing Host");
  // Persistence (RFC 9112 §9.3): 1.1 persists unless "close"; 1.0 only with "keep-alive".
  out->keep_alive = !connection_close && (out->version_minor == 1 || connection_keep_alive);

  ParseResult ok;
  ok.status = Status::kOk;
  ok.consumed = pos;
  return ok;
}

}  // namespace ringcast::http
