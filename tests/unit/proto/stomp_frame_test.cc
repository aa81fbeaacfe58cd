#include "proto/stomp_frame.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace ringcast::stomp {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

// A parsed frame with its views copied out (they expire at the next Parse).
struct Parsed {
  Command command = Command::kSend;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool operator==(const Parsed&) const = default;
};

Parsed Copy(const Frame& frame) {
  Parsed parsed{frame.command, {}, std::string(frame.body)};
  for (size_t i = 0; i < frame.header_count; ++i) {
    parsed.headers.emplace_back(frame.headers[i].name, frame.headers[i].value);
  }
  return parsed;
}

// Parses `input` from an allocation of exactly its size, so that ASan sees any read past it;
// the frame (kOk) copied out before that allocation goes.
ParseResult ParseExact(FrameParser& parser, std::string_view input, Parsed* parsed) {
  auto copy = std::make_unique<char[]>(input.size());
  if (!input.empty()) std::memcpy(copy.get(), input.data(), input.size());
  Frame frame;
  ParseResult result = parser.Parse(std::string_view(copy.get(), input.size()), &frame);
  if (result.status == Status::kOk) *parsed = Copy(frame);
  return result;
}

TEST(StompFrameTest, ParsesAFrameWithHeadersAndBody) {
  FrameParser parser;
  Frame frame;
  const std::string input = "SEND\ndestination:/app/chat.send\nconv:7\n\nhello\0"s;
  ParseResult result = parser.Parse(input, &frame);
  ASSERT_EQ(result.status, Status::kOk);
  EXPECT_EQ(result.consumed, input.size());
  EXPECT_EQ(result.heartbeats, 0u);
  EXPECT_EQ(frame.command, Command::kSend);
  EXPECT_EQ(frame.Find("destination"), "/app/chat.send");
  EXPECT_EQ(frame.Find("conv"), "7");
  EXPECT_EQ(frame.Find("cid"), std::nullopt);
  EXPECT_EQ(frame.body, "hello");
  // Zero-copy: the views point into the input.
  EXPECT_EQ(frame.body.data(), input.data() + input.find("hello"));
}

TEST(StompFrameTest, CrLfLinesAndTheEolsAroundFramesAreHeartbeats) {
  FrameParser parser;
  Frame frame;
  const std::string input = "\n\r\n\nSUBSCRIBE\r\nid:0\r\ndestination:/topic/x\r\n\r\n\0\n\n"s;
  ParseResult result = parser.Parse(input, &frame);
  ASSERT_EQ(result.status, Status::kOk);
  EXPECT_EQ(result.heartbeats, 3u);
  EXPECT_EQ(frame.command, Command::kSubscribe);
  EXPECT_EQ(frame.Find("id"), "0");
  EXPECT_EQ(frame.Find("destination"), "/topic/x");
  // What follows the frame's NUL is the next call's: two more heart-beats, then nothing.
  result = parser.Parse(std::string_view(input).substr(result.consumed), &frame);
  EXPECT_EQ(result.status, Status::kNeedMore);
  EXPECT_EQ(result.consumed, 2u);
  EXPECT_EQ(result.heartbeats, 2u);
}

TEST(StompFrameTest, OnlyHeartbeatsOrNothingNeedMore) {
  FrameParser parser;
  Frame frame;
  EXPECT_EQ(parser.Parse("", &frame).status, Status::kNeedMore);
  ParseResult result = parser.Parse("\n", &frame);
  EXPECT_EQ(result.status, Status::kNeedMore);
  EXPECT_EQ(result.consumed, 1u);
  EXPECT_EQ(result.heartbeats, 1u);
  // A CR at the end may become CR LF: kept for the next call.
  result = parser.Parse("\n\r", &frame);
  EXPECT_EQ(result.status, Status::kNeedMore);
  EXPECT_EQ(result.consumed, 1u);
  EXPECT_EQ(parser.Parse("\rX", &frame).status, Status::kError);
}

TEST(StompFrameTest, ContentLengthBodiesMayHoldNul) {
  FrameParser parser;
  Frame frame;
  const std::string input = "SEND\ndestination:/q\ncontent-length:5\n\na\0b\0c\0"s;
  ParseResult result = parser.Parse(input, &frame);
  ASSERT_EQ(result.status, Status::kOk);
  EXPECT_EQ(frame.body, "a\0b\0c"sv);
  EXPECT_EQ(result.consumed, input.size());
  // The octet after content-length octets must be the NUL.
  EXPECT_EQ(parser.Parse("SEND\ncontent-length:2\n\nabc\0"s, &frame).status, Status::kError);
  EXPECT_EQ(parser.Parse("SEND\ncontent-length:x\n\nab\0"s, &frame).error_reason,
            "content-length is not a decimal number");
  EXPECT_EQ(parser.Parse("SEND\ncontent-length:-1\n\n\0"s, &frame).status, Status::kError);
  EXPECT_EQ(parser.Parse("SEND\ncontent-length:\n\n\0"s, &frame).status, Status::kError);
  EXPECT_EQ(parser.Parse("SEND\ncontent-length:99999999999999999999999\n\n\0"s, &frame).status,
            Status::kError);
}

TEST(StompFrameTest, HeaderEscapesAreUndone) {
  FrameParser parser;
  Frame frame;
  const std::string input = "SEND\na\\cb:line\\none\\rtwo\\\\three\\c\n\n\0"s;
  ASSERT_EQ(parser.Parse(input, &frame).status, Status::kOk);
  EXPECT_EQ(frame.headers[0].name, "a:b");
  EXPECT_EQ(frame.headers[0].value, "line\none\rtwo\\three:");
  EXPECT_EQ(parser.Parse("SEND\na:b\\t\n\n\0"s, &frame).error_reason,
            "an undefined escape sequence in a header");
  EXPECT_EQ(parser.Parse("SEND\na:b\\\n\n\0"s, &frame).status, Status::kError);
}

TEST(StompFrameTest, ConnectHeadersAreNotEscaped) {
  FrameParser parser;
  Frame frame;
  const std::string input = "CONNECT\npasscode:a\\tb\nhost:ws://x:1\n\n\0"s;
  ASSERT_EQ(parser.Parse(input, &frame).status, Status::kOk);
  EXPECT_EQ(frame.Find("passcode"), "a\\tb");
  EXPECT_EQ(frame.Find("host"), "ws://x:1");  // Split at the first colon only.
}

TEST(StompFrameTest, TheFirstOfRepeatedHeadersCounts) {
  FrameParser parser;
  Frame frame;
  const std::string input = "MESSAGE\nfoo:World\nfoo:Hello\n\n\0"s;
  ASSERT_EQ(parser.Parse(input, &frame).status, Status::kOk);
  EXPECT_EQ(frame.Find("foo"), "World");
  EXPECT_EQ(frame.header_count, 2u);
}

TEST(StompFrameTest, MalformedFramesAreErrors) {
  FrameParser parser;
  Frame frame;
  EXPECT_EQ(parser.Parse("HELLO\n\n\0"s, &frame).error_reason, "unknown command");
  EXPECT_EQ(parser.Parse("send\n\n\0"s, &frame).error_reason, "unknown command");
  EXPECT_EQ(parser.Parse("SEND \n\n\0"s, &frame).error_reason, "unknown command");
  EXPECT_EQ(parser.Parse("SEND\nnocolon\n\n\0"s, &frame).error_reason,
            "a header line without a colon");
  EXPECT_EQ(parser.Parse("SEND\n:v\n\n\0"s, &frame).error_reason, "a header with an empty name");
  EXPECT_EQ(parser.Parse("SEND\na:b\rc\n\n\0"s, &frame).error_reason,
            "a CR or NUL inside a header line");
  EXPECT_EQ(parser.Parse("SEND\na:b\0c\n\n\0"s, &frame).error_reason,
            "a CR or NUL inside a header line");
  // An empty header value is allowed.
  const std::string empty_value = "SEND\nempty:\n\n\0"s;
  ASSERT_EQ(parser.Parse(empty_value, &frame).status, Status::kOk);
  EXPECT_EQ(frame.Find("empty"), "");
}

TEST(StompFrameTest, LimitsBoundTheHeadTheHeaderCountAndTheBody) {
  FrameParser parser({.max_header_bytes = 32, .max_body_bytes = 8});
  Frame frame;
  // Incomplete but within the limits: more may come.
  EXPECT_EQ(parser.Parse("SEND\nabc:de", &frame).status, Status::kNeedMore);
  EXPECT_EQ(parser.Parse("SEND\n" + std::string(40, 'a'), &frame).error_reason,
            "the frame's headers are too large");
  EXPECT_EQ(parser.Parse("SEND\n\n12345678\0"s, &frame).status, Status::kOk);
  EXPECT_EQ(parser.Parse("SEND\n\n123456789\0"s, &frame).error_reason,
            "the frame's body is over the limit");
  EXPECT_EQ(parser.Parse("SEND\n\n123456789"s, &frame).status, Status::kError);
  EXPECT_EQ(parser.Parse("SEND\n\n12345678"s, &frame).status, Status::kNeedMore);
  EXPECT_EQ(parser.Parse("SEND\ncontent-length:9\n\n"s, &frame).error_reason,
            "the frame's body is over the limit");
  std::string many = "SEND\n";
  for (int i = 0; i <= 64; ++i) many += "h:" + std::to_string(i) + "\n";
  many += "\n"s + '\0';
  FrameParser roomy({.max_header_bytes = 4096});
  EXPECT_EQ(roomy.Parse(many, &frame).error_reason, "more than 64 headers");
}

// Every prefix of a valid stream is kNeedMore (with only heart-beats consumed), and the whole
// gives the same frames however the stream is cut.
TEST(StompFrameTest, EverySplitPointAgreesWithTheWhole) {
  const std::string stream =
      "\nCONNECT\r\naccept-version:1.2\r\npasscode:tok\r\n\r\n\0\n"s
      "SEND\ndestination:/app/chat.send\ncontent-length:4\nx\\cy:z\\\\\n\nab\0c\0\n"s
      "SUBSCRIBE\nid:1\ndestination:/topic/conversation.3\n\n\0"s;
  FrameParser parser;
  std::vector<Parsed> whole;
  {
    std::string_view rest = stream;
    for (;;) {
      Parsed parsed;
      ParseResult result = ParseExact(parser, rest, &parsed);
      ASSERT_NE(result.status, Status::kError);
      rest.remove_prefix(result.consumed);
      if (result.status == Status::kNeedMore) break;
      whole.push_back(parsed);
    }
    EXPECT_TRUE(rest.empty());
  }
  ASSERT_EQ(whole.size(), 3u);
  EXPECT_EQ(whole[1].headers[2], (std::pair<std::string, std::string>("x:y", "z\\")));
  EXPECT_EQ(whole[1].body, "ab\0c"sv);

  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    // The bytes received so far; a frame is taken out once whole (as the gateway does).
    std::string buffer;
    std::vector<Parsed> frames;
    auto feed = [&](std::string_view piece) {
      buffer.append(piece);
      for (;;) {
        Parsed parsed;
        ParseResult result = ParseExact(parser, buffer, &parsed);
        ASSERT_NE(result.status, Status::kError) << "cut " << cut;
        if (result.status == Status::kOk) frames.push_back(parsed);
        buffer.erase(0, result.consumed);
        if (result.status == Status::kNeedMore) return;
      }
    };
    feed(std::string_view(stream).substr(0, cut));
    feed(std::string_view(stream).substr(cut));
    EXPECT_EQ(frames, whole) << "cut " << cut;
    EXPECT_TRUE(buffer.empty()) << "cut " << cut;
  }
}

TEST(StompFrameTest, ParsesFromAPaddedBuffer) {
  // The frame inside a larger buffer: nothing past `input` is read or taken.
  const std::string padded = "SEND\ndestination:/q\n\nbody\0SEND\n"s + std::string(64, 'Z');
  FrameParser parser;
  Frame frame;
  ParseResult result = parser.Parse(std::string_view(padded).substr(0, 26), &frame);
  ASSERT_EQ(result.status, Status::kOk);
  EXPECT_EQ(frame.body, "body");
  EXPECT_EQ(result.consumed, 26u);
  EXPECT_EQ(parser.Parse(std::string_view(padded).substr(26, 5), &frame).status, Status::kNeedMore);
}

TEST(StompFrameTest, EncodesEscapedHeadersAndAContentLength) {
  const Header headers[] = {{"destination", "/topic/a:b"}, {"message", "line\nnext\\"}};
  const std::string frame = EncodeFrame(Command::kMessage, headers, "{\"a\":1}");
  EXPECT_EQ(frame,
            "MESSAGE\ndestination:/topic/a\\cb\nmessage:line\\nnext\\\\\ncontent-length:7\n\n"
            "{\"a\":1}\0"s);
  EXPECT_EQ(frame.size(), EncodedFrameSize(Command::kMessage, headers, "{\"a\":1}"));
  // No body: no content-length. CONNECTED is not escaped.
  const Header connected[] = {{"version", "1.2"}, {"server", "ringcast/1:2"}};
  EXPECT_EQ(EncodeFrame(Command::kConnected, connected, ""),
            "CONNECTED\nversion:1.2\nserver:ringcast/1:2\n\n\0"s);
  EXPECT_EQ(EscapeHeader("a:b\\c\r"), "a\\cb\\\\c\\r");
}

TEST(StompFrameTest, WhatTheEncoderWritesParsesBack) {
  const Header headers[] = {{"subscription", "sub:0"}, {"receipt-id", "r\\1\r\n"}};
  const std::string body = "{\"text\":\"x\\u0000y\"}\0tail"s;
  const std::string encoded = EncodeFrame(Command::kMessage, headers, body);
  FrameParser parser({.max_body_bytes = 1024});
  Frame frame;
  ParseResult result = parser.Parse(encoded, &frame);
  ASSERT_EQ(result.status, Status::kOk);
  EXPECT_EQ(result.consumed, encoded.size());
  EXPECT_EQ(frame.Find("subscription"), "sub:0");
  EXPECT_EQ(frame.Find("receipt-id"), "r\\1\r\n");
  EXPECT_EQ(frame.body, body);
  EXPECT_EQ(CommandName(frame.command), "MESSAGE");
  EXPECT_FALSE(IsClientCommand(frame.command));
  EXPECT_TRUE(IsClientCommand(Command::kDisconnect));
}

}  // namespace
}  // namespace ringcast::stomp
