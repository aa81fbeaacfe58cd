// STOMP 1.2 frames (https://stomp.github.io/stomp-specification-1.2.html), both directions: a
// parser for what clients send and an encoder for what the server sends.
//
// Pure code: no I/O. The parser is stateless between calls, as the HTTP parser is: the caller
// hands it everything received so far that is not yet a frame and gets kNeedMore until a whole
// frame is there. A frame that arrives whole in one WebSocket message (the usual case) is parsed
// zero-copy: the command, header names and values and the body are views into the input; only
// a header that holds an escape sequence is unescaped, into the parser's own scratch.
//
// Grammar (spec, "Augmented BNF"):
//   frame  = command EOL *(header EOL) EOL *OCTET NUL *(EOL)       EOL = [CR] LF
//   header = header-name ":" header-value
// EOLs between frames are heart-beats (spec, "Heart-beating"). The rules applied here:
// - Escapes (spec, "Value Encoding"): \r \n \c \\ in header names and values; any other
//   backslash sequence is a fatal error. CONNECT and CONNECTED frames are not escaped (STOMP
//   1.0 compatibility): a backslash there is itself.
// - A header line is split at its first colon; a colon later in the value is kept as it is
//   (CONNECT values carry URLs; other frames should send \c). No whitespace is trimmed.
// - Repeated headers: the first one counts (spec, "Repeated Header Entries"): Frame::Find.
// - The body: `content-length` octets followed by a NUL when that header is given, else
//   everything up to the first NUL.
// - Bounds (Limits): the command line and headers together, the number of headers, the body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ringcast::stomp {

enum class Command : uint8_t {
  // Client frames.
  kConnect,
  kStomp,
  kSend,
  kSubscribe,
  kUnsubscribe,
  kAck,
  kNack,
  kBegin,
  kCommit,
  kAbort,
  kDisconnect,
  // Server frames.
  kConnected,
  kMessage,
  kReceipt,
  kError,
};

std::string_view CommandName(Command command);
// Whether a client may send `command` (CONNECT to DISCONNECT).
inline bool IsClientCommand(Command command) { return command <= Command::kDisconnect; }

struct Header {
  std::string_view name;
  std::string_view value;
};

inline constexpr size_t kMaxHeaders = 64;

struct Frame {
  Command command = Command::kSend;
  Header headers[kMaxHeaders];
  size_t header_count = 0;
  std::string_view body;

  // The first header named `name` (case-sensitive, as STOMP's are); nullopt when absent.
  std::optional<std::string_view> Find(std::string_view name) const;
};

struct Limits {
  size_t max_header_bytes = 8192;  // The command line, the headers and the blank line.
  size_t max_body_bytes = 65536;

  // Heart-beat EOLs that may travel with a frame in one WebSocket message, bytes.
  static constexpr size_t kEolRoom = 1024;
  // The largest WebSocket message that carries one frame: its head, its body, its NUL, and
  // heart-beat EOLs around it. STOMP over WebSocket sends a frame per message.
  size_t max_frame_message_bytes() const {
    return max_header_bytes + max_body_bytes + 1 + kEolRoom;
  }
};

enum class Status : uint8_t { kOk, kNeedMore, kError };

struct ParseResult {
  Status status = Status::kNeedMore;
  // Bytes the caller may drop from the front of its input: kOk, the heart-beat EOLs before the
  // frame and the frame with its NUL; kNeedMore, the heart-beat EOLs before what is incomplete.
  size_t consumed = 0;
  size_t heartbeats = 0;          // EOLs counted in `consumed` (each LF or CR LF).
  std::string_view error_reason;  // kError: a short static English reason (the ERROR frame's).
};

class FrameParser {
 public:
  explicit FrameParser(Limits limits = {}) : limits_(limits) {}

  // The first frame at the start of `input` (after any heart-beat EOLs). kOk fills `frame`,
  // whose views point into `input` or into this parser's scratch, valid until the next call;
  // kNeedMore when what follows the EOLs is a frame's start within the limits; kError when it
  // cannot become a frame (the stream cannot be trusted after it: STOMP closes then).
  ParseResult Parse(std::string_view input, Frame* frame);

  const Limits& limits() const { return limits_; }

 private:
  // `raw` unescaped into scratch_ (a view of it), or nullopt for an undefined escape.
  std::optional<std::string_view> Unescape(std::string_view raw);

  Limits limits_;
  std::deque<std::string> scratch_;  // Unescaped headers of the latest frame (stable addresses).
};

// --- Encoding -----------------------------------------------------------------------------------

// `text` as a header name or value of any frame but CONNECT/CONNECTED: \ CR LF : escaped.
std::string EscapeHeader(std::string_view text);

// The bytes EncodeFrame writes for these parts. A non-empty body gets a content-length header,
// added after `headers`.
size_t EncodedFrameSize(Command command, std::span<const Header> headers, std::string_view body);
// Writes the frame (command, headers escaped unless the command is CONNECTED or CONNECT, the
// content-length of a non-empty body, the blank line, the body, NUL) at `out`, which has room
// for EncodedFrameSize(...) bytes; returns that size.
size_t EncodeFrame(char* out, Command command, std::span<const Header> headers,
                   std::string_view body);
std::string EncodeFrame(Command command, std::span<const Header> headers, std::string_view body);

}  // namespace ringcast::stomp
