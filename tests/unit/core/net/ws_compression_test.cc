#include "core/net/ws_compression.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "proto/ws_frame.h"

namespace ringcast {
namespace {

// Leaks and double frees of frames and their forms show under the asan preset (LeakSanitizer).

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string ChatText(size_t size) {
  std::string s;
  for (int i = 0; s.size() < size; ++i) {
    s += R"({"type":"message","conv":7,"seq":)" + std::to_string(i) +
         R"(,"body":"see you at the meeting tomorrow"})";
  }
  s.resize(size);
  return s;
}

// The frame's message, inflated when it has RSV1 (as a client would, RFC 7692 §7.2.2).
struct Decoded {
  bool compressed = false;
  ws::Opcode opcode = ws::Opcode::kContinuation;
  std::string payload;
};
Decoded Decode(const SharedFrame& frame) {
  ws::FrameHeader header;
  EXPECT_EQ(ws::ParseFrameHeader(frame.bytes(), &header).status, ws::HeaderStatus::kOk);
  EXPECT_EQ(header.header_size + header.payload_size, frame.size());
  Decoded out{header.rsv == 4, header.opcode, {}};
  const auto payload = frame.bytes().subspan(header.header_size);
  if (!out.compressed) {
    out.payload.assign(payload.begin(), payload.end());
    return out;
  }
  ws::Inflater inflater;
  EXPECT_EQ(inflater.Inflate(payload, 1 << 20), ws::InflateStatus::kOk);
  out.payload.assign(inflater.output().begin(), inflater.output().end());
  return out;
}

class WsCompressionTest : public ::testing::Test {
 protected:
  WsCompressionTest() { options_.ws_deflate = true; }
  NetOptions options_;
  ShardStats stats_;
};

TEST_F(WsCompressionTest, SharedFrameIsCompressedOncePerWindow) {
  WsCompression compression(options_, stats_);
  const std::string text = ChatText(2000);
  SharedFrame* frame = SharedFrame::EncodeMessage(ws::Opcode::kText, Bytes(text));
  frame->AddRefs(4);  // Five recipients' references.
  SharedFrame* first = compression.FormFor(frame, 15);
  ASSERT_NE(first, frame);
  const Decoded decoded = Decode(*first);
  EXPECT_TRUE(decoded.compressed);
  EXPECT_EQ(decoded.opcode, ws::Opcode::kText);
  EXPECT_EQ(decoded.payload, text);
  EXPECT_LT(first->size(), text.size() / 3);
  EXPECT_EQ(compression.FormFor(frame, 15), first);  // The same form, not compressed again.
  EXPECT_EQ(stats_.deflate_compressed, 1u);
  // Windows 8 and 9 share zlib's 9-bit deflater: one more form for both.
  SharedFrame* narrow = compression.FormFor(frame, 8);
  EXPECT_NE(narrow, first);
  EXPECT_EQ(compression.FormFor(frame, 9), narrow);
  EXPECT_EQ(Decode(*narrow).payload, text);
  EXPECT_EQ(stats_.deflate_compressed, 2u);
  EXPECT_EQ(stats_.deflate_deliveries, 4u);
  // Each recipient's queue releases its form; the last reference to the frame (the fifth)
  // releases the forms' chain.
  for (SharedFrame* f : {first, first, narrow, narrow}) f->Release();
  frame->Release();
}

TEST_F(WsCompressionTest, WhatIsNotCompressed) {
  WsCompression compression(options_, stats_);
  const std::string text = ChatText(1000);
  std::vector<SharedFrame*> frames = {
      SharedFrame::EncodeMessage(ws::Opcode::kPong, Bytes(text.substr(0, 125))),
      SharedFrame::EncodeClose(1000, text.substr(0, 100)),
      SharedFrame::EncodeMessage(ws::Opcode::kText, Bytes(text.substr(0, 255))),  // Under 256.
      SharedFrame::EncodeMessage(ws::Opcode::kBinary, Bytes(text), /*compressed=*/true),
      SharedFrame::Copy("HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n" + text.substr(0, 400)),
  };
  // Two messages in one frame's bytes: its header does not cover it.
  uint8_t two[2 * (4 + 300)];
  size_t n = ws::EncodeHeader(two, ws::Opcode::kText, true, 300);
  std::memcpy(two + n, text.data(), 300);
  n += 300;
  n += ws::EncodeHeader(two + n, ws::Opcode::kText, true, 300);
  std::memcpy(two + n, text.data(), 300);
  frames.push_back(SharedFrame::Copy({reinterpret_cast<const char*>(two), n + 300}));
  for (SharedFrame* frame : frames) {
    EXPECT_EQ(compression.FormFor(frame, 15), frame);
    frame->Release();
  }
  EXPECT_EQ(stats_.deflate_compressed + stats_.deflate_incompressible, 0u);
}

TEST_F(WsCompressionTest, IncompressibleIsTriedOnce) {
  WsCompression compression(options_, stats_);
  std::mt19937 rng(3);
  std::string noise(3000, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  SharedFrame* frame = SharedFrame::EncodeMessage(ws::Opcode::kBinary, Bytes(noise));
  frame->AddRefs(2);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(compression.FormFor(frame, 15), frame);
  EXPECT_EQ(stats_.deflate_incompressible, 1u);  // The empty form remembers it.
  EXPECT_EQ(stats_.deflate_deliveries, 0u);
  for (int i = 0; i < 3; ++i) frame->Release();
}

TEST_F(WsCompressionTest, ShardsRacingForOneFrameShareTheWinnersForm) {
  const std::string text = ChatText(8000);
  for (int round = 0; round < 50; ++round) {
    SharedFrame* frame = SharedFrame::EncodeMessage(ws::Opcode::kText, Bytes(text));
    frame->AddRefs(3);
    SharedFrame* got[4] = {};
    ShardStats stats[4];
    std::vector<std::thread> shards;
    for (int s = 0; s < 4; ++s) {
      shards.emplace_back([&, s] {
        WsCompression compression(options_, stats[s]);  // Each shard has its own streams.
        got[s] = compression.FormFor(frame, 15);
      });
    }
    for (std::thread& t : shards) t.join();
    for (int s = 1; s < 4; ++s) ASSERT_EQ(got[s], got[0]) << "round " << round;
    EXPECT_EQ(Decode(*got[0]).payload, text);
    for (SharedFrame* form : got) form->Release();
  }
}

TEST_F(WsCompressionTest, UnicastCompressesAboveTheMinimumOnly) {
  options_.ws_deflate_min_size = 100;
  WsCompression compression(options_, stats_);
  const std::string text = ChatText(500);
  std::span<const uint8_t> out = compression.Compress(ws::Opcode::kText, Bytes(text), nullptr, 12);
  ASSERT_FALSE(out.empty());
  SharedFrame* frame = SharedFrame::EncodeMessage(ws::Opcode::kText, out, true);
  EXPECT_EQ(Decode(*frame).payload, text);
  frame->Release();
  EXPECT_TRUE(
      compression.Compress(ws::Opcode::kText, Bytes(text.substr(0, 99)), nullptr, 15).empty());
  EXPECT_TRUE(
      compression.Compress(ws::Opcode::kPing, Bytes(text.substr(0, 120)), nullptr, 15).empty());
  // A payload still masked (the echo's fast path) is unmasked before it is compressed.
  const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
  std::string masked = text;
  ws::ApplyMask(reinterpret_cast<uint8_t*>(masked.data()), masked.size(), key);
  out = compression.Compress(ws::Opcode::kBinary, Bytes(masked), key, 15);
  ASSERT_FALSE(out.empty());
  frame = SharedFrame::EncodeMessage(ws::Opcode::kBinary, out, true);
  EXPECT_EQ(Decode(*frame).payload, text);
  frame->Release();
}

TEST_F(WsCompressionTest, InflateCountsAndTrims) {
  WsCompression compression(options_, stats_);
  const std::string text = ChatText(200000);
  std::vector<uint8_t> out(text.size() + 4);
  ws::Deflater deflater(15, 6);
  const size_t n = deflater.Compress(Bytes(text), out.data(), text.size());
  ASSERT_GT(n, 0u);
  ASSERT_EQ(compression.Inflate({out.data(), n}, text.size()), ws::InflateStatus::kOk);
  EXPECT_EQ(std::string(compression.inflated().begin(), compression.inflated().end()), text);
  EXPECT_EQ(stats_.deflate_inflated, 1u);
  EXPECT_EQ(stats_.deflate_in_raw_bytes, text.size());
  EXPECT_EQ(stats_.deflate_in_bytes, n);
  compression.AfterInflated();  // 200 KB is over what a shard keeps.
  EXPECT_TRUE(compression.inflated().empty());
  EXPECT_EQ(compression.Inflate({out.data(), n}, 1000), ws::InflateStatus::kTooBig);
  EXPECT_EQ(stats_.deflate_inflated, 1u);
}

}  // namespace
}  // namespace ringcast
