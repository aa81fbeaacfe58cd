// libFuzzer harness for stomp::FrameParser and the frame encoder (proto/stomp_frame.h).
//
// Input: byte 0 picks the limits (bits 0-1: head 32 / 256 / 8192 bytes; bits 2-3: body 0 / 16 /
// 1000 / 65536 bytes), byte 1 seeds the split points, the rest is the client's byte stream as
// the StompGateway sees it (the WebSocket messages one after the other).
//
// Invariants checked beyond "no crash, no sanitizer report":
// - consumed <= the input; kNeedMore with nothing but heart-beats consumed never leaves a head
//   over its limit; kError carries a reason and consumes nothing;
// - kOk: a client or server command, at most kMaxHeaders headers, a body within its limit,
//   every view inside the input or in the parser's own scratch, no header name empty or with a
//   colon (outside CONNECT/CONNECTED's raw values no CR/LF either);
// - the stream read whole and the stream fed in pieces at up to 8 cut points (each piece an
//   allocation of exactly its size, a frame completed in a buffer as the gateway does) give the
//   same frames and end the same way (the same error reason, or the same bytes left over): no
//   prefix fails what the whole takes;
// - every frame parsed, encoded again (EncodeFrame) and parsed, gives the same command, the same
//   headers (then the content-length the encoder adds to a non-empty body) and the same body;
//   EncodedFrameSize is the encoded size.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/stomp_frame.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using ringcast::fuzz::Inside;
using ringcast::stomp::Command;
using ringcast::stomp::Frame;
using ringcast::stomp::FrameParser;
using ringcast::stomp::Header;
using ringcast::stomp::Limits;
using ringcast::stomp::ParseResult;
using ringcast::stomp::Status;

struct Parsed {
  Command command;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool operator==(const Parsed&) const = default;
};

struct Outcome {
  std::vector<Parsed> frames;
  std::string_view error;  // Empty: none.
  std::string rest;        // What was left unparsed at the end (kNeedMore).
  bool operator==(const Outcome&) const = default;
};

Parsed Check(std::string_view input, const Limits& limits, const ParseResult& result,
             const Frame& frame) {
  FUZZ_CHECK(result.consumed <= input.size());
  FUZZ_CHECK(frame.header_count <= ringcast::stomp::kMaxHeaders);
  FUZZ_CHECK(frame.body.size() <= limits.max_body_bytes);
  FUZZ_CHECK(Inside(frame.body, input));
  const bool raw = frame.command == Command::kConnect || frame.command == Command::kConnected;
  Parsed parsed{frame.command, {}, std::string(frame.body)};
  for (size_t i = 0; i < frame.header_count; ++i) {
    const Header& header = frame.headers[i];
    FUZZ_CHECK(!header.name.empty());
    FUZZ_CHECK(header.name.find(':') == std::string_view::npos || !raw);
    if (raw) {
      FUZZ_CHECK(Inside(header.name, input) && Inside(header.value, input));
      FUZZ_CHECK(header.value.find_first_of("\r\n") == std::string_view::npos);
    }
    parsed.headers.emplace_back(header.name, header.value);
  }
  return parsed;
}

// Encodes `parsed` again and checks that it parses back to itself.
void RoundTrip(const Parsed& parsed) {
  const size_t added = parsed.body.empty() ? 0 : 1;  // The encoder's content-length.
  if (parsed.headers.size() + added > ringcast::stomp::kMaxHeaders) return;
  std::vector<Header> headers;
  for (const auto& [name, value] : parsed.headers) headers.push_back({name, value});
  const std::string encoded = ringcast::stomp::EncodeFrame(parsed.command, headers, parsed.body);
  FUZZ_CHECK(encoded.size() ==
             ringcast::stomp::EncodedFrameSize(parsed.command, headers, parsed.body));
  // Room for what the encoder adds (escapes double a header at most, a content-length).
  FrameParser roomy(
      {.max_header_bytes = 2 * encoded.size() + 64, .max_body_bytes = parsed.body.size()});
  Frame frame;
  const ParseResult result = roomy.Parse(encoded, &frame);
  FUZZ_CHECK(result.status == Status::kOk);
  FUZZ_CHECK(result.consumed == encoded.size());
  FUZZ_CHECK(frame.command == parsed.command);
  FUZZ_CHECK(std::string_view(frame.body) == parsed.body);
  FUZZ_CHECK(frame.header_count == parsed.headers.size() + added);
  for (size_t i = 0; i < parsed.headers.size(); ++i) {
    FUZZ_CHECK(frame.headers[i].name == parsed.headers[i].first);
    FUZZ_CHECK(frame.headers[i].value == parsed.headers[i].second);
  }
}

// Feeds `pieces` one after the other, as the gateway does: parse in place, keep an unfinished
// frame in a buffer and complete it with the next piece.
Outcome Feed(FrameParser& parser, const Limits& limits, const std::vector<std::string_view>& pieces,
             bool round_trip) {
  Outcome outcome;
  std::string buffer;
  for (std::string_view piece : pieces) {
    // Each piece its own allocation of exactly its size: ASan sees a read past it.
    const ringcast::fuzz::ExactCopy exact(piece);
    buffer.append(exact.text());
    std::string_view input = buffer;
    for (;;) {
      Frame frame;
      const ParseResult result = parser.Parse(input, &frame);
      if (result.status == Status::kError) {
        FUZZ_CHECK(!result.error_reason.empty());
        FUZZ_CHECK(result.consumed == 0);
        outcome.error = result.error_reason;
        return outcome;
      }
      const Parsed parsed = Check(input, limits, result, frame);
      input.remove_prefix(result.consumed);
      if (result.status == Status::kNeedMore) break;
      if (round_trip) RoundTrip(parsed);
      outcome.frames.push_back(parsed);
    }
    buffer.assign(input);
  }
  outcome.rest = buffer;
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static constexpr size_t kHeads[] = {32, 256, 8192, 8192};
  static constexpr size_t kBodies[] = {0, 16, 1000, 65536};
  const Limits limits{.max_header_bytes = kHeads[data[0] & 3],
                      .max_body_bytes = kBodies[(data[0] >> 2) & 3]};
  const uint32_t seed = data[1];
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);
  FrameParser parser(limits);

  const Outcome whole = Feed(parser, limits, {stream}, true);
  std::vector<std::string_view> pieces;
  size_t from = 0;
  for (size_t cut : ringcast::fuzz::SplitPoints(stream.size(), seed, 8)) {
    pieces.push_back(stream.substr(from, cut - from));
    from = cut;
  }
  pieces.push_back(stream.substr(from));
  // The parser is stateless over what it is given: no prefix may fail what the whole takes.
  FUZZ_CHECK(Feed(parser, limits, pieces, false) == whole);
  return 0;
}
