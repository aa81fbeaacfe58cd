// libFuzzer harness for what a STOMP client sends after CONNECT, as the gateway handles it
// (chat/stomp/stomp_mapping.h): each frame of the stream is parsed (stomp::FrameParser), a SEND
// is mapped to the chat request it stands for by its operation's wire (chat/ops/wire.h:
// FindStompWire, from_stomp) and that request is read by the RequestReader as the session
// would; a SUBSCRIBE's destination is
// mapped (ParseSubscribable); the token and heart-beat headers are read (TokenOf, ParseHeartBeat).
//
// Input: byte 0 picks the body limit (bits 0-1: 16 / 1000 / 65536 / 1 MiB); the rest is the
// client's frames as the StompGateway sees them.
//
// Invariants checked beyond "no crash, no sanitizer report":
// - a SEND's request is one JSON object that the chat parser either refuses (with a message) or
//   reads as exactly the request the destination names: no header or body can turn a send into
//   another request, nor add a second "type", "conv" or "body" (every field is written anew, a
//   sync's body too);
// - an accepted send carries the frame's conversation header and its body byte for byte, and its
//   cid is the one the gateway gave; read, delivered, typing and history carry the conversation;
// - a SUBSCRIBE destination that maps to a conversation topic names a positive conversation, and
//   TopicOf gives back the same destination; a queue maps back to its own destination;
// - a token found is a non-empty part of the frame's passcode or Authorization header; a
//   heart-beat parsed is the header's two numbers.
#include <simdjson.h>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "chat/ops/wire.h"
#include "chat/protocol.h"
#include "chat/stomp/stomp_mapping.h"
#include "proto/stomp_frame.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace stomp = ringcast::stomp;
namespace stomp_map = ringcast::chat::stomp_map;
namespace ops = ringcast::chat::ops;
using ringcast::chat::RequestError;
using ringcast::chat::RequestLimits;
using ringcast::fuzz::Inside;

constexpr std::string_view kCid = "stomp-7";

std::optional<int64_t> Integer(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

void CheckSend(const stomp::Frame& frame, ops::RequestReader& reader) {
  const std::optional<std::string_view> destination = frame.Find("destination");
  if (!destination) return;
  const ops::Wire* wire = ops::FindStompWire(*destination);
  if (wire == nullptr) return;
  FUZZ_CHECK(wire->from_stomp != nullptr && wire->stomp_destination == *destination);
  std::string error;
  const std::optional<std::string> json = wire->from_stomp(frame, kCid, &error);
  if (!json) {
    FUZZ_CHECK(!error.empty());
    return;
  }
  ops::Request request;
  RequestError refusal;
  const ops::Wire* read = reader.Parse(*json, &request, &refusal);
  if (read == nullptr) {
    FUZZ_CHECK(!refusal.message.empty());
    return;
  }
  FUZZ_CHECK(read == wire);
  std::optional<std::string_view> conv_header = frame.Find("conversation");
  if (!conv_header) conv_header = frame.Find("conv");
  const std::optional<int64_t> conv = conv_header ? Integer(*conv_header) : std::nullopt;
  if (const auto* send = std::get_if<ops::MessageRequest>(&request)) {
    FUZZ_CHECK(send->body == frame.body && refusal.cid == kCid && conv == send->conv);
  } else if (const auto* mark = std::get_if<ops::WatermarkRequest>(&request)) {
    FUZZ_CHECK(conv == mark->conv);
  } else if (const auto* typing = std::get_if<ops::TypingRequest>(&request)) {
    FUZZ_CHECK(conv == typing->conv);
  } else if (const auto* history = std::get_if<ops::HistoryRequest>(&request)) {
    FUZZ_CHECK(conv == history->conv);
  } else {
    FUZZ_CHECK(std::holds_alternative<ops::SyncRequest>(request) ||
               std::holds_alternative<ops::AuthRequest>(request));
  }
}

void CheckSubscribe(const stomp::Frame& frame) {
  const std::optional<std::string_view> destination = frame.Find("destination");
  if (!destination) return;
  const std::optional<stomp_map::Subscribable> target = stomp_map::ParseSubscribable(*destination);
  if (!target) return;
  if (target->topic) {
    FUZZ_CHECK(target->conv > 0);
    FUZZ_CHECK(stomp_map::TopicOf(target->conv) == *destination);
  } else {
    FUZZ_CHECK(stomp_map::QueueDestination(target->queue) == *destination);
  }
}

void CheckHeaders(const stomp::Frame& frame) {
  if (const std::optional<std::string_view> token = stomp_map::TokenOf(frame)) {
    FUZZ_CHECK(!token->empty());
    const std::optional<std::string_view> passcode = frame.Find("passcode");
    const std::optional<std::string_view> bearer = frame.Find("Authorization");
    const std::optional<std::string_view> lower = frame.Find("authorization");
    FUZZ_CHECK((passcode && Inside(*token, *passcode)) || (bearer && Inside(*token, *bearer)) ||
               (lower && Inside(*token, *lower)));
  }
  if (const std::optional<std::string_view> beat = frame.Find("heart-beat")) {
    if (const auto parsed = stomp_map::ParseHeartBeat(*beat)) {
      const size_t comma = beat->find(',');
      FUZZ_CHECK(comma != std::string_view::npos);
      FUZZ_CHECK(Integer(beat->substr(0, comma)) == int64_t{parsed->first});
      FUZZ_CHECK(Integer(beat->substr(comma + 1)) == int64_t{parsed->second});
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static constexpr size_t kBodies[] = {16, 1000, 65536, 1 << 20};
  const size_t max_body = kBodies[data[0] & 3];
  // An exact-size copy: ASan sees any read past what the client sent.
  const ringcast::fuzz::ExactCopy copy(data + 1, size - 1);
  std::string_view stream = copy.text();

  stomp::FrameParser frames(stomp::Limits{.max_header_bytes = 8192, .max_body_bytes = max_body});
  ops::RequestReader reader(RequestLimits{.max_body = max_body});
  for (int guard = 0; guard < 64 && !stream.empty(); ++guard) {
    stomp::Frame frame;
    const stomp::ParseResult result = frames.Parse(stream, &frame);
    if (result.status != stomp::Status::kOk) break;
    stream.remove_prefix(result.consumed);
    CheckHeaders(frame);
    if (frame.command == stomp::Command::kSend) CheckSend(frame, reader);
    if (frame.command == stomp::Command::kSubscribe) CheckSubscribe(frame);
  }
  return 0;
}
