#include "proto/multipart.h"

#include <algorithm>
#include <cstring>

#include "proto/http_parser.h"
#include "proto/url_path.h"

namespace ringcast::http {
namespace {

// RFC 2046 §5.1.1 bchars.
bool IsBoundaryChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::strchr("'()+_,-./:=? ", c) != nullptr;
}

// A parameter value: a quoted-string (RFC 9110 §5.6.4, quoted-pairs unescaped) or a token.
std::string Unquote(std::string_view value) {
  value = TrimOws(value);
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::string(value);
  std::string out;
  value = value.substr(1, value.size() - 2);
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\\' && i + 1 < value.size()) ++i;
    out.push_back(value[i]);
  }
  return out;
}

// Splits "form-data; name=\"a;b\"; filename=x" at the semicolons outside quotes and calls
// `each(name, value)` for every parameter (the first item, the disposition type, has no '=').
template <typename Each>
void ForEachParam(std::string_view header, Each each) {
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i <= header.size(); ++i) {
    const bool end = i == header.size();
    if (!end && header[i] == '"' && (i == 0 || header[i - 1] != '\\')) quoted = !quoted;
    if (!end && (quoted || header[i] != ';')) continue;
    const std::string_view item = TrimOws(header.substr(start, i - start));
    const size_t equals = item.find('=');
    if (equals != std::string_view::npos) {
      each(TrimOws(item.substr(0, equals)), item.substr(equals + 1));
    }
    start = i + 1;
  }
}

}  // namespace

std::optional<std::string> MultipartBoundary(std::string_view content_type) {
  const size_t semicolon = content_type.find(';');
  if (!EqualsIgnoreCase(TrimOws(content_type.substr(0, semicolon)), "multipart/form-data")) {
    return std::nullopt;
  }
  if (semicolon == std::string_view::npos) return std::nullopt;
  std::optional<std::string> boundary;
  ForEachParam(content_type.substr(semicolon + 1), [&](std::string_view name, std::string_view v) {
    if (!boundary && EqualsIgnoreCase(name, "boundary")) boundary = Unquote(v);
  });
  if (!boundary || boundary->empty() || boundary->size() > 70 || boundary->back() == ' ') {
    return std::nullopt;
  }
  for (char c : *boundary) {
    if (!IsBoundaryChar(c)) return std::nullopt;
  }
  return boundary;
}

MultipartReader::MultipartReader(std::string_view boundary) {
  delimiter_.append("\r\n--").append(boundary);
  // The first delimiter may open the body without a CRLF before it (RFC 2046 §5.1.1: the
  // CRLF belongs to the delimiter, and the preamble may be empty): start as if one was read.
  matched_ = 2;
}

MultipartReader::Status MultipartReader::Fail(std::string_view reason) {
  state_ = State::kError;
  error_ = reason;
  return Status::kError;
}

void MultipartReader::EmitData(std::span<const uint8_t> data, Sink& sink) {
  if (in_file_ && !data.empty()) sink.OnFileData(data);
}

size_t MultipartReader::ScanBody(std::span<const uint8_t> input, Sink& sink) {
  const auto* delimiter = reinterpret_cast<const uint8_t*>(delimiter_.data());
  const size_t size = input.size();
  size_t i = 0;
  auto on_delimiter = [&] {
    matched_ = 0;
    if (in_file_) file_done_ = true;
    in_file_ = false;
    state_ = State::kAfterDelimiter;
    after_.clear();
  };
  if (matched_ > 0) {  // A delimiter's start ended the last input: go on matching it.
    while (i < size && matched_ < delimiter_.size() && input[i] == delimiter[matched_]) {
      ++matched_;
      ++i;
    }
    if (matched_ == delimiter_.size()) {
      on_delimiter();
      return i;
    }
    if (i == size) return i;
    // Not a delimiter after all: the carried bytes were data. The delimiter's only CR is its
    // first byte (bchars have none), so no later carried byte can start another match.
    EmitData({delimiter, matched_}, sink);
    matched_ = 0;
  }
  const size_t start = i;
  while (i < size) {
    const void* found = std::memchr(input.data() + i, '\r', size - i);
    if (found == nullptr) break;
    const size_t at = static_cast<size_t>(static_cast<const uint8_t*>(found) - input.data());
    const size_t n = std::min(size - at, delimiter_.size());
    if (std::memcmp(input.data() + at, delimiter, n) == 0) {
      EmitData(input.subspan(start, at - start), sink);
      if (n == delimiter_.size()) {
        on_delimiter();
        return at + n;
      }
      matched_ = n;  // The input ends inside what may be a delimiter: hold it back.
      return size;
    }
    i = at + 1;
  }
  EmitData(input.subspan(start), sink);
  return size;
}

size_t MultipartReader::ReadAfterDelimiter(std::span<const uint8_t> input) {
  // "--" closes the body; otherwise optional transport padding (LWSP) and a CRLF open the
  // next part's headers (RFC 2046 §5.1.1).
  for (size_t i = 0; i < input.size(); ++i) {
    const char c = static_cast<char>(input[i]);
    if (after_ == "-") {
      if (c != '-') {
        Fail("malformed multipart delimiter");
        return i;
      }
      state_ = State::kEpilogue;
      return i + 1;
    }
    if (after_ == "\r") {
      if (c != '\n') {
        Fail("malformed multipart delimiter");
        return i;
      }
      state_ = State::kHeaders;
      headers_ = "\r\n";  // So an empty header block is found by the same "\r\n\r\n" search.
      return i + 1;
    }
    if (c == '-' || c == '\r') {
      after_.push_back(c);
    } else if (c != ' ' && c != '\t') {
      Fail("malformed multipart delimiter");
      return i;
    }
  }
  return input.size();
}

size_t MultipartReader::ReadHeaders(std::span<const uint8_t> input, Sink& sink) {
  const size_t before = headers_.size();
  constexpr size_t kCap = kMaxPartHeaderBytes + 4;  // With the leading and final CRLF.
  const size_t take = std::min(input.size(), before < kCap ? kCap - before : 0);
  headers_.append(reinterpret_cast<const char*>(input.data()), take);
  const size_t from = before >= 3 ? before - 3 : 0;
  const size_t end = headers_.find("\r\n\r\n", from);
  if (end == std::string::npos) {
    if (headers_.size() > kMaxPartHeaderBytes) Fail("multipart part headers too long");
    return take;
  }
  const size_t consumed = end + 4 - before;
  const std::string block = headers_.substr(2, end > 2 ? end - 2 : 0);
  headers_.clear();
  if (!StartPart(block, sink)) return consumed;
  state_ = State::kBody;
  return consumed;
}

bool MultipartReader::StartPart(std::string_view headers, Sink& sink) {
  std::string filename;
  bool has_filename = false;
  bool form_data = false;
  std::string_view content_type;
  while (!headers.empty()) {
    const size_t eol = headers.find("\r\n");
    const std::string_view line = headers.substr(0, eol);
    headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      Fail("malformed multipart part header");
      return false;
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = TrimOws(line.substr(colon + 1));
    if (EqualsIgnoreCase(name, "Content-Type")) {
      content_type = value;
    } else if (EqualsIgnoreCase(name, "Content-Disposition")) {
      form_data = EqualsIgnoreCase(TrimOws(value.substr(0, value.find(';'))), "form-data");
      bool extended = false;  // filename* (RFC 6266 §4.3) wins over filename.
      ForEachParam(value, [&](std::string_view param, std::string_view v) {
        if (EqualsIgnoreCase(param, "filename") && !extended) {
          filename = Unquote(v);
          has_filename = true;
        } else if (EqualsIgnoreCase(param, "filename*")) {
          const std::string raw = Unquote(v);
          constexpr std::string_view kUtf8 = "utf-8''";
          std::string decoded;
          if (raw.size() >= kUtf8.size() && EqualsIgnoreCase(raw.substr(0, kUtf8.size()), kUtf8) &&
              PercentDecode(std::string_view(raw).substr(kUtf8.size()), &decoded)) {
            filename = std::move(decoded);
            has_filename = extended = true;
          }
        }
      });
    }
  }
  if (!form_data) {
    Fail("multipart part without Content-Disposition: form-data");
    return false;
  }
  if (has_filename && !file_started_) {
    file_started_ = in_file_ = true;
    sink.OnFileStart(filename, content_type);
  }
  return true;
}

MultipartReader::Status MultipartReader::Feed(std::span<const uint8_t> input, Sink& sink) {
  while (true) {
    switch (state_) {
      case State::kError:
        return Status::kError;
      case State::kEpilogue:
        return Status::kDone;
      default:
        break;
    }
    if (input.empty()) return Status::kNeedMore;
    size_t used = 0;
    switch (state_) {
      case State::kPreamble:
      case State::kBody:
        used = ScanBody(input, sink);
        break;
      case State::kAfterDelimiter:
        used = ReadAfterDelimiter(input);
        break;
      case State::kHeaders:
        used = ReadHeaders(input, sink);
        break;
      case State::kEpilogue:
      case State::kError:
        break;
    }
    input = input.subspan(used);
  }
}

}  // namespace ringcast::http
