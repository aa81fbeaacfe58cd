// MultipartReader: an incremental multipart/form-data reader (RFC 7578 over RFC 2046 §5.1)
// that hands out the bytes of the request's first file part as they arrive, for an upload
// that streams to disk: nothing is buffered beyond one part's header block
// (kMaxPartHeaderBytes) and a delimiter's length of body bytes that might start a delimiter.
//
// Pure code: no I/O, no allocation per byte. Owner: whoever feeds it (one per request). Feed it
// the body in any split; the result does not depend on where the splits fall (tested at every
// split point, fuzzed by tests/fuzz/multipart_fuzzer.cc).
//
// "The file" is the first part whose Content-Disposition has a filename parameter (RFC 7578
// §4.2: what a browser sends for <input type=file>); other parts are read and dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ringcast::http {

// The boundary parameter of a multipart/form-data Content-Type (quoted or not); nullopt when
// the type is another one or the boundary is missing or invalid (RFC 2046 §5.1.1: 1 to 70
// bchars, not ending in a space).
std::optional<std::string> MultipartBoundary(std::string_view content_type);

class MultipartReader {
 public:
  static constexpr size_t kMaxPartHeaderBytes = 8192;

  enum class Status : uint8_t { kNeedMore, kDone, kError };

  // Receives the file part. Data comes in order, after OnFileStart, in any number of calls.
  class Sink {
   public:
    virtual ~Sink() = default;
    // `filename` as sent (RFC 7578 §4.2; "filename*" is decoded when it is UTF-8''),
    // `content_type` the part's (empty when absent).
    virtual void OnFileStart(std::string_view filename, std::string_view content_type) = 0;
    virtual void OnFileData(std::span<const uint8_t> data) = 0;
  };

  explicit MultipartReader(std::string_view boundary);

  // Consumes all of `input`. kNeedMore: send more; kDone: the closing delimiter was read (what
  // follows, the epilogue, is ignored); kError: error() says why (further calls return kError).
  Status Feed(std::span<const uint8_t> input, Sink& sink);
  // Whether a file part was found (OnFileStart called) and ended (its delimiter read).
  bool file_complete() const { return file_done_; }
  bool file_found() const { return file_started_; }
  std::string_view error() const { return error_; }

 private:
  enum class State : uint8_t { kPreamble, kAfterDelimiter, kHeaders, kBody, kEpilogue, kError };
  // Scans body-like bytes (preamble or a part's body) for the delimiter; returns the bytes
  // consumed. Data before a delimiter goes to the part when it is the file.
  size_t ScanBody(std::span<const uint8_t> input, Sink& sink);
  void EmitData(std::span<const uint8_t> data, Sink& sink);
  size_t ReadAfterDelimiter(std::span<const uint8_t> input);
  size_t ReadHeaders(std::span<const uint8_t> input, Sink& sink);
  bool StartPart(std::string_view headers, Sink& sink);
  Status Fail(std::string_view reason);

  std::string delimiter_;  // "\r\n--" + boundary.
  size_t matched_ = 0;     // Bytes of delimiter_ matched at the end of the input so far.
  std::string headers_;    // The current part's header block, while it arrives.
  std::string after_;      // Up to 2 bytes after a delimiter ("--" or CRLF, with padding).
  State state_ = State::kPreamble;
  bool in_file_ = false;  // The current part is the file.
  bool file_started_ = false;
  bool file_done_ = false;
  std::string_view error_;
};

}  // namespace ringcast::http
