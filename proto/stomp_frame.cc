#include "proto/stomp_frame.h"

#include <charconv>
#include <cstring>

namespace ringcast::stomp {
namespace {

constexpr std::string_view kCommandNames[] = {
    "CONNECT", "STOMP", "SEND",       "SUBSCRIBE", "UNSUBSCRIBE", "ACK",     "NACK",  "BEGIN",
    "COMMIT",  "ABORT", "DISCONNECT", "CONNECTED", "MESSAGE",     "RECEIPT", "ERROR",
};
constexpr std::string_view kContentLength = "content-length";

std::optional<Command> CommandNamed(std::string_view name) {
  for (size_t i = 0; i < std::size(kCommandNames); ++i) {
    if (kCommandNames[i] == name) return static_cast<Command>(i);
  }
  return std::nullopt;
}

// CONNECT and CONNECTED keep STOMP 1.0's unescaped headers (spec, "Value Encoding").
bool Escaped(Command command) {
  return command != Command::kConnect && command != Command::kConnected;
}

ParseResult Fail(std::string_view reason) {
  return {.status = Status::kError, .consumed = 0, .heartbeats = 0, .error_reason = reason};
}

ParseResult Complete(size_t consumed, size_t heartbeats) {
  return {
      .status = Status::kOk, .consumed = consumed, .heartbeats = heartbeats, .error_reason = {}};
}

// STOMP 1.2 "Value Encoding": the octets a header value escapes, and the letter that follows the
// backslash for each (same position). Any other escape "MUST be treated as a fatal protocol
// error".
constexpr std::string_view kEscapable = "\\\n\r:";
constexpr std::string_view kEscapeLetters = "\\nrc";

// The bytes `text` takes once escaped.
size_t EscapedSize(std::string_view text) {
  size_t size = text.size();
  for (char c : text) size += kEscapable.find(c) != std::string_view::npos ? 1 : 0;
  return size;
}

char* WriteEscaped(char* out, std::string_view text) {
  for (char c : text) {
    const size_t k = kEscapable.find(c);
    if (k == std::string_view::npos) {
      *out++ = c;
    } else {
      *out++ = '\\';
      *out++ = kEscapeLetters[k];
    }
  }
  return out;
}

char* Write(char* out, std::string_view text) {
  if (!text.empty()) std::memcpy(out, text.data(), text.size());
  return out + text.size();
}

size_t Digits(size_t value) {
  size_t digits = 1;
  while (value >= 10) {
    value /= 10;
    ++digits;
  }
  return digits;
}

}  // namespace

std::string_view CommandName(Command command) { return kCommandNames[size_t(command)]; }

std::optional<std::string_view> Frame::Find(std::string_view name) const {
  for (size_t i = 0; i < header_count; ++i) {
    if (headers[i].name == name) return headers[i].value;
  }
  return std::nullopt;
}

std::optional<std::string_view> FrameParser::Unescape(std::string_view raw) {
  std::string& out = scratch_.emplace_back();
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\') {
      out.push_back(raw[i]);
      continue;
    }
    if (++i == raw.size()) return std::nullopt;
    const size_t k = kEscapeLetters.find(raw[i]);
    if (k == std::string_view::npos) return std::nullopt;
    out.push_back(kEscapable[k]);
  }
  return std::string_view(out);
}

ParseResult FrameParser::Parse(std::string_view input, Frame* frame) {
  scratch_.clear();
  const size_t n = input.size();
  size_t pos = 0;
  size_t heartbeats = 0;
  while (pos < n && (input[pos] == '\n' || input[pos] == '\r')) {
    if (input[pos] == '\n') {
      ++pos;
    } else if (pos + 1 == n) {
      break;  // A CR that may be the start of a CR LF.
    } else if (input[pos + 1] == '\n') {
      pos += 2;
    } else {
      return Fail("a CR not followed by LF");
    }
    ++heartbeats;
  }
  const size_t start = pos;
  auto need_more = [&] {
    return ParseResult{.status = Status::kNeedMore,
                       .consumed = start,
                       .heartbeats = heartbeats,
                       .error_reason = {}};
  };
  if (pos == n || (pos + 1 == n && input[pos] == '\r')) return need_more();

  // The head: every line of it ends within max_header_bytes of the frame's start.
  const size_t head_limit = std::min(n, start + limits_.max_header_bytes);
  // The next line from `pos` without its EOL, or nullopt (with *result set) when there is none.
  ParseResult pending;
  auto next_line = [&](std::string_view* line) -> bool {
    const void* lf = std::memchr(input.data() + pos, '\n', head_limit - pos);
    if (lf == nullptr) {
      pending = n - start > limits_.max_header_bytes ? Fail("the frame's headers are too large")
                                                     : need_more();
      return false;
    }
    const size_t end = static_cast<const char*>(lf) - input.data();
    *line = input.substr(pos, end - pos);
    if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
    pos = end + 1;
    return true;
  };

  std::string_view line;
  if (!next_line(&line)) return pending;
  const std::optional<Command> command = CommandNamed(line);
  if (!command) return Fail("unknown command");
  frame->command = *command;
  frame->header_count = 0;
  frame->body = {};
  for (;;) {
    if (!next_line(&line)) return pending;
    if (line.empty()) break;
    if (line.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos) {
      return Fail("a CR or NUL inside a header line");
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Fail("a header line without a colon");
    if (colon == 0) return Fail("a header with an empty name");
    if (frame->header_count == kMaxHeaders) return Fail("more than 64 headers");
    Header header{line.substr(0, colon), line.substr(colon + 1)};
    if (Escaped(*command)) {
      for (std::string_view* part : {&header.name, &header.value}) {
        if (part->find('\\') == std::string_view::npos) continue;
        std::optional<std::string_view> plain = Unescape(*part);
        if (!plain) return Fail("an undefined escape sequence in a header");
        *part = *plain;
      }
    }
    frame->headers[frame->header_count++] = header;
  }

  const size_t body_start = pos;
  if (std::optional<std::string_view> length_text = frame->Find(kContentLength)) {
    size_t length = 0;
    const char* first = length_text->data();
    const char* last = first + length_text->size();
    auto [end, ec] = std::from_chars(first, last, length);
    if (length_text->empty() || ec != std::errc() || end != last || *first == '+' ||
        *first == '-') {
      return Fail("content-length is not a decimal number");
    }
    if (length > limits_.max_body_bytes) return Fail("the frame's body is over the limit");
    if (n - body_start < length + 1) return need_more();
    if (input[body_start + length] != '\0') return Fail("the body is not followed by NUL");
    frame->body = input.substr(body_start, length);
    return Complete(body_start + length + 1, heartbeats);
  }
  const size_t scan = std::min(n - body_start, limits_.max_body_bytes + 1);
  const void* nul = std::memchr(input.data() + body_start, '\0', scan);
  if (nul == nullptr) {
    return n - body_start > limits_.max_body_bytes ? Fail("the frame's body is over the limit")
                                                   : need_more();
  }
  const size_t length = static_cast<const char*>(nul) - (input.data() + body_start);
  frame->body = input.substr(body_start, length);
  return Complete(body_start + length + 1, heartbeats);
}

std::string EscapeHeader(std::string_view text) {
  std::string out(EscapedSize(text), '\0');
  WriteEscaped(out.data(), text);
  return out;
}

size_t EncodedFrameSize(Command command, std::span<const Header> headers, std::string_view body) {
  const bool escaped = Escaped(command);
  size_t size = CommandName(command).size() + 1;
  for (const Header& header : headers) {
    size += escaped ? EscapedSize(header.name) + EscapedSize(header.value)
                    : header.name.size() + header.value.size();
    size += 2;  // ':' and LF.
  }
  if (!body.empty()) size += kContentLength.size() + 1 + Digits(body.size()) + 1;
  return size + 1 + body.size() + 1;
}

size_t EncodeFrame(char* out, Command command, std::span<const Header> headers,
                   std::string_view body) {
  const bool escaped = Escaped(command);
  char* p = Write(out, CommandName(command));
  *p++ = '\n';
  for (const Header& header : headers) {
    p = escaped ? WriteEscaped(p, header.name) : Write(p, header.name);
    *p++ = ':';
    p = escaped ? WriteEscaped(p, header.value) : Write(p, header.value);
    *p++ = '\n';
  }
  if (!body.empty()) {
    p = Write(p, kContentLength);
    *p++ = ':';
    p = std::to_chars(p, p + 20, body.size()).ptr;
    *p++ = '\n';
  }
  *p++ = '\n';
  p = Write(p, body);
  *p++ = '\0';
  return size_t(p - out);
}

std::string EncodeFrame(Command command, std::span<const Header> headers, std::string_view body) {
  std::string out(EncodedFrameSize(command, headers, body), '\0');
  out.resize(EncodeFrame(out.data(), command, headers, body));
  return out;
}

}  // namespace ringcast::stomp
