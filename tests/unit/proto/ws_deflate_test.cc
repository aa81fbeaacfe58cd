#include "proto/ws_deflate.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>
#include <vector>

namespace ringcast::ws {
namespace {

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// --- Negotiation (RFC 7692 §5, §7) --------------------------------------------------------------

DeflateAgreement Enabled(uint8_t server_max_window_bits = 0, uint8_t client_max_window_bits = 0) {
  return {true, server_max_window_bits, client_max_window_bits};
}

TEST(NegotiateDeflateTest, PlainOfferIsAccepted) {
  EXPECT_EQ(NegotiateDeflate("permessage-deflate"), Enabled());
  EXPECT_EQ(NegotiateDeflate("  permessage-deflate  "), Enabled());
  EXPECT_EQ(NegotiateDeflate("PerMessage-Deflate"), Enabled());
}

TEST(NegotiateDeflateTest, NoOfferOrOtherExtensionsOnly) {
  EXPECT_FALSE(NegotiateDeflate("").enabled);
  EXPECT_FALSE(NegotiateDeflate("x-webkit-deflate-frame").enabled);
  EXPECT_FALSE(NegotiateDeflate("permessage-deflate-x").enabled);
  EXPECT_FALSE(NegotiateDeflate(",,").enabled);
}

TEST(NegotiateDeflateTest, EveryParameterWithValidValues) {
  EXPECT_EQ(NegotiateDeflate("permessage-deflate; client_max_window_bits"), Enabled());
  EXPECT_EQ(NegotiateDeflate("permessage-deflate; server_no_context_takeover; "
                             "client_no_context_takeover"),
            Enabled());
  EXPECT_EQ(NegotiateDeflate("permessage-deflate; server_max_window_bits=10"), Enabled(10));
  EXPECT_EQ(
      NegotiateDeflate("permessage-deflate;server_max_window_bits=8;client_max_window_bits=9"),
      Enabled(8, 9));
  EXPECT_EQ(NegotiateDeflate("permessage-deflate; server_max_window_bits=\"15\""), Enabled(15));
  EXPECT_EQ(NegotiateDeflate("permessage-deflate; client_max_window_bits=15"), Enabled(0, 15));
}

TEST(NegotiateDeflateTest, BadOffersAreDeclined) {
  for (std::string_view offer : {
           "permessage-deflate; server_max_window_bits",        // Needs a value.
           "permessage-deflate; server_max_window_bits=7",      // Out of range.
           "permessage-deflate; server_max_window_bits=16",     //
           "permessage-deflate; server_max_window_bits=08",     // Leading zero.
           "permessage-deflate; server_max_window_bits=1a",     //
           "permessage-deflate; server_max_window_bits=",       //
           "permessage-deflate; client_max_window_bits=0",      //
           "permessage-deflate; client_max_window_bits=\"\"",   //
           "permessage-deflate; server_no_context_takeover=1",  // Takes no value.
           "permessage-deflate; client_no_context_takeover=x",  //
           "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
           "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
           "permessage-deflate; mystery",                         // Not defined for offers.
           "permessage-deflate; =3",                              // No name.
           "permessage-deflate; server_max_window_bits=\"10",     // Open quote.
           "permessage-deflate; server_max_window_bits=\"1 0\"",  // Not a token inside.
           "permessage-deflate; ;",                               // Empty parameter.
       }) {
    EXPECT_FALSE(NegotiateDeflate(offer).enabled) << offer;
  }
}

TEST(NegotiateDeflateTest, FirstAcceptableOfferWins) {
  EXPECT_EQ(NegotiateDeflate("permessage-deflate; server_max_window_bits=10, permessage-deflate"),
            Enabled(10));
  EXPECT_EQ(NegotiateDeflate("permessage-deflate; bogus, permessage-deflate; "
                             "server_max_window_bits=12, permessage-deflate"),
            Enabled(12));
  EXPECT_EQ(NegotiateDeflate("foo; a=\"x,y\", permessage-deflate; server_max_window_bits=9"),
            Enabled(9));
  EXPECT_FALSE(NegotiateDeflate("permessage-deflate; x, permessage-deflate; y").enabled);
}

TEST(NegotiateDeflateTest, EveryHeaderLineOfARequest) {
  const std::string text =
      "GET / HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Extensions: permessage-deflate; nope\r\n"
      "sec-websocket-extensions: permessage-deflate; server_max_window_bits=11\r\n\r\n";
  http::Request request;
  ASSERT_EQ(http::ParseRequest(text, http::Limits{}, &request).status, http::Status::kOk);
  EXPECT_EQ(NegotiateDeflate(request), Enabled(11));
}

TEST(NegotiateDeflateTest, ResponseAlwaysTakesNoContext) {
  EXPECT_EQ(DeflateResponse(Enabled()),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  EXPECT_EQ(DeflateResponse(Enabled(9)),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=9");
  EXPECT_EQ(DeflateResponse(Enabled(0, 10)),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "client_max_window_bits=10");
  EXPECT_EQ(Enabled().server_window_bits(), 15);
  EXPECT_EQ(Enabled(8).server_window_bits(), 8);
  EXPECT_EQ(DeflaterWindowBits(8), 9);
  EXPECT_EQ(DeflaterWindowBits(12), 12);
}

// --- Compressing and inflating ------------------------------------------------------------------

// A message as a peer with zlib would inflate it: raw DEFLATE with `window_bits`, the tail added.
// The output goes out 7 bytes at a time, so zlib must keep its history in its own window and
// refuses a distance past it ("invalid distance too far back"); with the whole output in one
// buffer it would read back through that buffer instead and check nothing.
std::string ZlibInflate(std::span<const uint8_t> compressed, int window_bits) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, -window_bits), Z_OK);
  std::vector<uint8_t> in(compressed.begin(), compressed.end());
  in.insert(in.end(), {0x00, 0x00, 0xff, 0xff});
  z.next_in = in.data();
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  int rc = Z_OK;
  while (rc == Z_OK) {
    char chunk[7];
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof(chunk);
    rc = inflate(&z, Z_SYNC_FLUSH);
    out.append(chunk, sizeof(chunk) - z.avail_out);
    if (z.avail_in == 0 && z.avail_out != 0) break;
  }
  EXPECT_TRUE(rc == Z_OK || rc == Z_BUF_ERROR) << rc << " " << (z.msg ? z.msg : "");
  inflateEnd(&z);
  return out;
}

std::vector<uint8_t> ZlibDeflate(std::span<const uint8_t> in, bool final_block = false) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::vector<uint8_t> out(deflateBound(&z, in.size()) + 16);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, final_block ? Z_FINISH : Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  if (!final_block) out.resize(out.size() - 4);  // The 00 00 ff ff tail (§7.2.1).
  return out;
}

std::string ChatLike(size_t size) {
  std::string s;
  for (int i = 0; s.size() < size; ++i) {
    s += R"({"type":"message","conv":42,"seq":)" + std::to_string(i) +
         R"(,"from":7,"text":"hello there, how is it going?"})";
  }
  s.resize(size);
  return s;
}

TEST(DeflaterTest, RoundTripsAtEveryWindow) {
  const std::string text = ChatLike(5000);
  for (int bits = 9; bits <= 15; ++bits) {
    Deflater deflater(bits, 6);
    std::vector<uint8_t> out(text.size() + 4);
    // Twice: the second message starts from a reset stream (no context takeover), so it
    // inflates alone too.
    for (int round = 0; round < 2; ++round) {
      const size_t n = deflater.Compress(Bytes(text), out.data(), text.size());
      ASSERT_GT(n, 0u) << bits;
      EXPECT_LT(n, text.size() / 3) << bits;
      EXPECT_EQ(ZlibInflate({out.data(), n}, bits), text) << bits;
      Inflater inflater;
      ASSERT_EQ(inflater.Inflate({out.data(), n}, text.size()), InflateStatus::kOk);
      EXPECT_EQ(std::string(inflater.output().begin(), inflater.output().end()), text);
    }
  }
}

TEST(DeflaterTest, NineBitWindowFitsAnEightBitPeer) {
  // Repeats 300 bytes apart: a 9-bit window could reach them, an 8-bit one could not. zlib's
  // 9-bit deflater stays within 250 bytes, so a peer inflating with 8 bits reads it.
  std::mt19937 rng(7);
  std::string block(300, '\0');
  for (char& c : block) c = static_cast<char>('a' + rng() % 26);
  std::string text;
  for (int i = 0; i < 20; ++i) text += block;
  Deflater deflater(DeflaterWindowBits(8), 9);
  std::vector<uint8_t> out(text.size() + 4);
  const size_t n = deflater.Compress(Bytes(text), out.data(), text.size());
  ASSERT_GT(n, 0u);
  EXPECT_EQ(ZlibInflate({out.data(), n}, 8), text);
}

TEST(DeflaterTest, IncompressibleOrEmptyIsNotWorthIt) {
  std::mt19937 rng(1);
  std::vector<uint8_t> noise(4096);
  for (uint8_t& b : noise) b = static_cast<uint8_t>(rng());
  Deflater deflater(15, 6);
  std::vector<uint8_t> out(noise.size() + 4);
  EXPECT_EQ(deflater.Compress(noise, out.data(), noise.size()), 0u);
  EXPECT_EQ(deflater.Compress({}, out.data(), 0), 0u);
  // A generous limit takes the form even when it is larger (the empty message: one byte, §7.2.3.6).
  EXPECT_EQ(deflater.Compress({}, out.data(), 8), 1u);
  EXPECT_EQ(out[0], 0x00);
  // And the stream is still good afterwards.
  const std::string text = ChatLike(1000);
  std::vector<uint8_t> again(text.size() + 4);
  const size_t n = deflater.Compress(Bytes(text), again.data(), text.size());
  ASSERT_GT(n, 0u);
  EXPECT_EQ(ZlibInflate({again.data(), n}, 15), text);
}

TEST(DeflaterTest, LimitIsStrict) {
  const std::string text = ChatLike(2000);
  Deflater deflater(15, 6);
  std::vector<uint8_t> out(text.size() + 4);
  const size_t n = deflater.Compress(Bytes(text), out.data(), text.size());
  ASSERT_GT(n, 0u);
  std::vector<uint8_t> exact(n + 1 + 4);
  EXPECT_EQ(deflater.Compress(Bytes(text), exact.data(), n + 1), n);
  EXPECT_EQ(deflater.Compress(Bytes(text), exact.data(), n), 0u);
}

TEST(InflaterTest, LimitIsAfterInflation) {
  const std::string text = ChatLike(10000);
  const std::vector<uint8_t> compressed = ZlibDeflate(Bytes(text));
  Inflater inflater;
  EXPECT_EQ(inflater.Inflate(compressed, text.size()), InflateStatus::kOk);
  EXPECT_EQ(inflater.output().size(), text.size());
  EXPECT_EQ(inflater.Inflate(compressed, text.size() - 1), InflateStatus::kTooBig);
  EXPECT_LE(inflater.output().size(), text.size());
  // The stream was reset: the next message inflates.
  EXPECT_EQ(inflater.Inflate(compressed, text.size()), InflateStatus::kOk);
}

TEST(InflaterTest, ASmallerLimitAfterALargerOne) {
  // Found by the ws_reader fuzzer: a buffer grown under a large limit must not let a later
  // call with a smaller one inflate past it.
  const std::string text = ChatLike(20000);
  const std::vector<uint8_t> compressed = ZlibDeflate(Bytes(text));
  Inflater inflater;
  ASSERT_EQ(inflater.Inflate(compressed, 1 << 20), InflateStatus::kOk);
  EXPECT_EQ(inflater.Inflate(compressed, 100), InflateStatus::kTooBig);
  EXPECT_EQ(inflater.output().size(), 101u);
  EXPECT_EQ(inflater.Inflate(compressed, text.size()), InflateStatus::kOk);
  EXPECT_EQ(inflater.output().size(), text.size());
}

TEST(InflaterTest, ZipBombStopsAtTheLimit) {
  // 16 MiB of zeros compress to about 16 KiB; with a 1 MiB limit, at most 1 MiB + 1 is made.
  const std::vector<uint8_t> zeros(16 << 20, 0);
  const std::vector<uint8_t> bomb = ZlibDeflate(zeros);
  ASSERT_LT(bomb.size(), 64u << 10);
  Inflater inflater;
  EXPECT_EQ(inflater.Inflate(bomb, 1 << 20), InflateStatus::kTooBig);
  EXPECT_LE(inflater.output().size(), (1u << 20) + 1);
  inflater.Trim(64 << 10);
  EXPECT_EQ(inflater.output().size(), 0u);
}

TEST(InflaterTest, FinalBlockAndEmptyMessage) {
  const std::string text = ChatLike(3000);
  const std::vector<uint8_t> final_block = ZlibDeflate(Bytes(text), true);
  Inflater inflater;
  ASSERT_EQ(inflater.Inflate(final_block, 1 << 20), InflateStatus::kOk);
  EXPECT_EQ(std::string(inflater.output().begin(), inflater.output().end()), text);
  const uint8_t empty[1] = {0x00};  // §7.2.3.6.
  ASSERT_EQ(inflater.Inflate(empty, 10), InflateStatus::kOk);
  EXPECT_EQ(inflater.output().size(), 0u);
  ASSERT_EQ(inflater.Inflate({}, 10), InflateStatus::kOk);  // The tail alone: nothing.
  EXPECT_EQ(inflater.output().size(), 0u);
}

TEST(InflaterTest, GarbageIsAnError) {
  const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x12, 0x34};
  Inflater inflater;
  EXPECT_EQ(inflater.Inflate(garbage, 1 << 20), InflateStatus::kError);
  // Recovers for the next message (the connection is closed, but the shard's inflater serves
  // the others).
  const std::string text = ChatLike(500);
  ASSERT_EQ(inflater.Inflate(ZlibDeflate(Bytes(text)), 1 << 20), InflateStatus::kOk);
  EXPECT_EQ(std::string(inflater.output().begin(), inflater.output().end()), text);
}

TEST(InflaterTest, EveryTruncationIsHandled) {
  const std::string text = ChatLike(800);
  const std::vector<uint8_t> compressed = ZlibDeflate(Bytes(text));
  Inflater inflater;
  for (size_t cut = 0; cut <= compressed.size(); ++cut) {
    // Whatever the status, it never crashes and never exceeds the limit.
    inflater.Inflate({compressed.data(), cut}, text.size());
    EXPECT_LE(inflater.output().size(), text.size() + 1);
  }
}

}  // namespace
}  // namespace ringcast::ws
