#include "proto/ws_frame.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "proto/utf8.h"

namespace ringcast::ws {
namespace {

const uint8_t kKey[4] = {0x37, 0xFA, 0x21, 0x3D};

void ReferenceMask(uint8_t* data, size_t size, const uint8_t key[4], size_t key_offset) {
  for (size_t i = 0; i < size; ++i) data[i] ^= key[(i + key_offset) % 4];
}

struct LengthCase {
  uint64_t length;
  size_t header_size;  // Unmasked.
};

TEST(WsFrameTest, EncodeParseRoundTrip) {
  const LengthCase cases[] = {
      {0, 2}, {125, 2}, {126, 4}, {65535, 4}, {65536, 10}, {(uint64_t{1} << 32) + 5, 10},
  };
  const Opcode opcodes[] = {Opcode::kText, Opcode::kBinary, Opcode::kContinuation, Opcode::kPing};
  for (const LengthCase& c : cases) {
    for (bool masked : {false, true}) {
      for (Opcode op : opcodes) {
        for (bool fin : {false, true}) {
          uint8_t buf[kMaxHeaderSize];
          const size_t n = EncodeHeader(buf, op, fin, c.length, masked ? kKey : nullptr);
          ASSERT_EQ(n, c.header_size + (masked ? 4 : 0));
          EXPECT_EQ(n, HeaderSize(c.length, masked));
          // Every strict prefix of the header is incomplete.
          for (size_t cut = 0; cut < n; ++cut) {
            FrameHeader h;
            EXPECT_EQ(ParseFrameHeader({buf, cut}, &h).status, HeaderStatus::kNeedMore);
          }
          FrameHeader h;
          ASSERT_EQ(ParseFrameHeader({buf, n}, &h).status, HeaderStatus::kOk);
          EXPECT_EQ(h.fin, fin);
          EXPECT_EQ(h.rsv, 0);
          EXPECT_EQ(h.opcode, op);
          EXPECT_EQ(h.masked, masked);
          EXPECT_EQ(h.header_size, n);
          EXPECT_EQ(h.payload_size, c.length);
          if (masked) {
            EXPECT_EQ(std::memcmp(h.mask, kKey, 4), 0);
          }
        }
      }
    }
  }
}

TEST(WsFrameTest, RoundTripWithPayload) {
  for (size_t length :
       {size_t{0}, size_t{1}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536}}) {
    std::vector<uint8_t> payload(length);
    std::iota(payload.begin(), payload.end(), uint8_t{7});
    std::vector<uint8_t> wire(kMaxHeaderSize + length);
    const size_t n = EncodeHeader(wire.data(), Opcode::kBinary, true, length, kKey);
    std::copy(payload.begin(), payload.end(), wire.begin() + static_cast<ptrdiff_t>(n));
    ApplyMask(wire.data() + n, length, kKey);
    wire.resize(n + length);
    FrameHeader h;
    ASSERT_EQ(ParseFrameHeader(wire, &h).status, HeaderStatus::kOk);
    ASSERT_EQ(h.header_size + h.payload_size, wire.size());
    ApplyMask(wire.data() + h.header_size, length, h.mask);
    EXPECT_TRUE(std::equal(payload.begin(), payload.end(), wire.begin() + h.header_size));
  }
}

TEST(WsFrameTest, FlagsAndReservedBits) {
  const uint8_t frame[] = {0xF3, 0x00};  // FIN, RSV1-3, opcode 3 (reserved).
  FrameHeader h;
  ASSERT_EQ(ParseFrameHeader(frame, &h).status, HeaderStatus::kOk);  // Context is the reader's.
  EXPECT_TRUE(h.fin);
  EXPECT_EQ(h.rsv, 7);
  EXPECT_EQ(static_cast<uint8_t>(h.opcode), 3);
  EXPECT_FALSE(h.masked);
}

TEST(WsFrameTest, NonMinimalLengthsAreErrors) {
  FrameHeader h;
  const uint8_t len16_small[] = {0x82, 126, 0x00, 125};
  HeaderResult r = ParseFrameHeader(len16_small, &h);
  EXPECT_EQ(r.status, HeaderStatus::kError);
  EXPECT_EQ(r.error_code, CloseCode::kProtocolError);
  EXPECT_FALSE(r.error_reason.empty());
  const uint8_t len16_zero[] = {0x82, 126, 0x00, 0x00};
  EXPECT_EQ(ParseFrameHeader(len16_zero, &h).status, HeaderStatus::kError);
  const uint8_t len64_small[] = {0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  EXPECT_EQ(ParseFrameHeader(len64_small, &h).status, HeaderStatus::kError);
  const uint8_t len64_top_bit[] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(ParseFrameHeader(len64_top_bit, &h).status, HeaderStatus::kError);
  // The smallest legal values of each encoding.
  const uint8_t len16_min[] = {0x82, 126, 0x00, 126};
  ASSERT_EQ(ParseFrameHeader(len16_min, &h).status, HeaderStatus::kOk);
  EXPECT_EQ(h.payload_size, 126u);
  const uint8_t len64_min[] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0};
  ASSERT_EQ(ParseFrameHeader(len64_min, &h).status, HeaderStatus::kOk);
  EXPECT_EQ(h.payload_size, 65536u);
  const uint8_t len64_max[] = {0x82, 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  ASSERT_EQ(ParseFrameHeader(len64_max, &h).status, HeaderStatus::kOk);
  EXPECT_EQ(h.payload_size, (uint64_t{1} << 63) - 1);
}

TEST(WsFrameTest, ApplyMaskMatchesReferenceAtEveryOffsetAndLength) {
  // A misaligned window into a larger buffer, with guard bytes either side that must not change.
  std::vector<uint8_t> base(128 + 16);
  std::iota(base.begin(), base.end(), uint8_t{0});
  for (size_t misalign = 0; misalign < 8; ++misalign) {
    for (size_t length = 0; length <= 100; ++length) {
      for (size_t key_offset = 0; key_offset < 4; ++key_offset) {
        std::vector<uint8_t> fast = base;
        std::vector<uint8_t> slow = base;
        ApplyMask(fast.data() + misalign, length, kKey, key_offset);
        ReferenceMask(slow.data() + misalign, length, kKey, key_offset);
        ASSERT_EQ(fast, slow) << "misalign " << misalign << " length " << length << " offset "
                              << key_offset;
      }
    }
  }
}

TEST(WsFrameTest, CopyMaskedMatchesReferenceAtEveryOffsetAndLength) {
  // Source and destination misaligned independently; the source and the destination's guard
  // bytes must not change.
  std::vector<uint8_t> source(128 + 16);
  std::iota(source.begin(), source.end(), uint8_t{7});
  const std::vector<uint8_t> source_before = source;
  for (size_t in_align = 0; in_align < 8; ++in_align) {
    for (size_t out_align = 0; out_align < 8; out_align += 3) {
      for (size_t length = 0; length <= 100; ++length) {
        for (size_t key_offset = 0; key_offset < 4; ++key_offset) {
          std::vector<uint8_t> out(128 + 16, 0xEE);
          std::vector<uint8_t> expected = out;
          std::copy_n(source.begin() + in_align, length, expected.begin() + out_align);
          ReferenceMask(expected.data() + out_align, length, kKey, key_offset);
          CopyMasked(out.data() + out_align, source.data() + in_align, length, kKey, key_offset);
          ASSERT_EQ(out, expected) << "in " << in_align << " out " << out_align << " length "
                                   << length << " offset " << key_offset;
        }
      }
    }
  }
  EXPECT_EQ(source, source_before);
}

TEST(WsFrameTest, ApplyMaskInPiecesEqualsWhole) {
  std::vector<uint8_t> whole(97);
  std::iota(whole.begin(), whole.end(), uint8_t{1});
  std::vector<uint8_t> pieces = whole;
  ApplyMask(whole.data(), whole.size(), kKey);
  size_t pos = 0;
  for (size_t piece : {size_t{3}, size_t{1}, size_t{10}, size_t{33}, size_t{50}}) {
    ApplyMask(pieces.data() + pos, piece, kKey, pos);
    pos += piece;
  }
  ASSERT_EQ(pos, whole.size());
  EXPECT_EQ(whole, pieces);
}

TEST(WsFrameTest, ApplyMaskTwiceIsIdentity) {
  std::vector<uint8_t> data(1000);
  std::iota(data.begin(), data.end(), uint8_t{0});
  const std::vector<uint8_t> original = data;
  ApplyMask(data.data(), data.size(), kKey, 2);
  EXPECT_NE(data, original);
  ApplyMask(data.data(), data.size(), kKey, 2);
  EXPECT_EQ(data, original);
}

TEST(WsFrameTest, CloseCodes) {
  for (uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                        3000, 3999, 4000, 4999}) {
    EXPECT_TRUE(IsValidWireCloseCode(code)) << code;
  }
  for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    EXPECT_FALSE(IsValidWireCloseCode(code)) << code;
  }
}

TEST(WsFrameTest, EncodeClosePayload) {
  uint8_t out[kMaxControlPayload];
  size_t n = EncodeClosePayload(out, 1000, "bye");
  ASSERT_EQ(n, 5u);
  EXPECT_EQ(out[0], 0x03);
  EXPECT_EQ(out[1], 0xE8);
  EXPECT_EQ(std::string_view(reinterpret_cast<char*>(out + 2), 3), "bye");
  n = EncodeClosePayload(out, 4001, "");
  ASSERT_EQ(n, 2u);
  EXPECT_EQ((out[0] << 8) | out[1], 4001);
  // Exactly 123 reason bytes fit.
  n = EncodeClosePayload(out, 1000, std::string(123, 'a'));
  EXPECT_EQ(n, 125u);
  n = EncodeClosePayload(out, 1000, std::string(500, 'a'));
  EXPECT_EQ(n, 125u);
}

TEST(WsFrameTest, EncodeClosePayloadTruncatesAtUtf8Boundary) {
  // For each alignment of a multi-byte character against the 123-byte limit, the cut must land
  // on a boundary: the reason stays valid UTF-8 and is as long as possible.
  const std::string_view chars[] = {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"};
  for (std::string_view ch : chars) {
    for (size_t prefix = 0; prefix < 8; ++prefix) {
      std::string reason(prefix, 'x');
      while (reason.size() < 200) reason += ch;
      uint8_t out[kMaxControlPayload];
      const size_t n = EncodeClosePayload(out, 1001, reason);
      ASSERT_LE(n, kMaxControlPayload);
      ASSERT_GT(n, kMaxControlPayload - ch.size());
      const std::span<const uint8_t> written(out + 2, n - 2);
      EXPECT_TRUE(IsValidUtf8(written)) << "char size " << ch.size() << " prefix " << prefix;
      EXPECT_EQ(std::memcmp(out + 2, reason.data(), n - 2), 0);
    }
  }
}

}  // namespace
}  // namespace ringcast::ws
