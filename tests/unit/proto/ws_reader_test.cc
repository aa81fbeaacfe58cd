#include "proto/ws_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace ringcast::ws {
namespace {

using namespace std::string_view_literals;

// An event with its payload copied out (the reader's span expires on the next call).
struct Ev {
  EventKind kind;
  std::string payload;
  uint16_t code = 0;
  bool compressed = false;  // RSV1 on the message (permessage-deflate).
  bool operator==(const Ev&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Ev& e) {
  return os << "{kind " << static_cast<int>(e.kind) << ", " << e.payload.size() << " bytes "
            << testing::PrintToString(e.payload.substr(0, 40)) << ", code " << e.code
            << (e.compressed ? ", compressed" : "") << "}";
}

Ev Text(std::string_view s) { return {EventKind::kText, std::string(s)}; }
Ev Binary(std::string_view s) { return {EventKind::kBinary, std::string(s)}; }
Ev Ping(std::string_view s) { return {EventKind::kPing, std::string(s)}; }
Ev Pong(std::string_view s) { return {EventKind::kPong, std::string(s)}; }
Ev Close(uint16_t code, std::string_view reason = "") {
  return {EventKind::kClose, std::string(reason), code};
}
Ev Error(CloseCode code) { return {EventKind::kError, "", static_cast<uint16_t>(code)}; }
Ev Deflated(EventKind kind, std::string_view s) { return {kind, std::string(s), 0, true}; }

// Builds a client-to-server byte stream the way a browser would: every frame masked, each with
// a different key.
class Wire {
 public:
  // A frame with any first byte (FIN, RSV, opcode), masked unless `masked` is false.
  Wire& Raw(uint8_t b0, std::string_view payload, bool masked = true) {
    uint8_t key[4] = {static_cast<uint8_t>(0x5A + counter_), static_cast<uint8_t>(counter_ * 7),
                      0x00, static_cast<uint8_t>(0xC3 ^ counter_)};
    ++counter_;
    uint8_t header[kMaxHeaderSize];
    const size_t n =
        EncodeHeader(header, Opcode::kContinuation, false, payload.size(), masked ? key : nullptr);
    header[0] = b0;
    bytes_.insert(bytes_.end(), header, header + n);
    const size_t start = bytes_.size();
    bytes_.insert(bytes_.end(), payload.begin(), payload.end());
    if (masked) ApplyMask(bytes_.data() + start, payload.size(), key);
    return *this;
  }
  Wire& Frame(Opcode op, std::string_view payload, bool fin = true, bool masked = true) {
    return Raw(static_cast<uint8_t>((fin ? 0x80 : 0) | static_cast<uint8_t>(op)), payload, masked);
  }
  Wire& Bytes(std::initializer_list<uint8_t> raw) {
    bytes_.insert(bytes_.end(), raw);
    return *this;
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
  int counter_ = 0;
};

std::string ClosePayload(uint16_t code, std::string_view reason = "") {
  std::string s = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  return s + std::string(reason);
}

// Feeds `wire` cut at `cuts` (ascending offsets). Each piece sits in its own exactly sized heap
// buffer, freed once consumed, so ASan flags reads past a piece or use of an expired one.
std::vector<Ev> Feed(MessageReader& reader, const std::vector<uint8_t>& wire,
                     std::vector<size_t> cuts = {}) {
  std::vector<Ev> events;
  cuts.push_back(wire.size());
  size_t start = 0;
  for (size_t end : cuts) {
    const size_t size = end - start;
    auto piece = std::make_unique<uint8_t[]>(size);
    if (size != 0) std::memcpy(piece.get(), wire.data() + start, size);
    std::span<uint8_t> input(piece.get(), size);
    for (;;) {
      const Event e = reader.Next(&input);
      if (e.kind == EventKind::kNeedMore) {
        EXPECT_TRUE(input.empty());
        break;
      }
      std::string payload(reinterpret_cast<const char*>(e.payload.data()), e.payload.size());
      if (e.masked) ApplyMask(reinterpret_cast<uint8_t*>(payload.data()), payload.size(), e.mask);
      events.push_back(Ev{e.kind, std::move(payload), e.close_code, e.compressed});
      if (e.kind == EventKind::kError) {
        EXPECT_FALSE(e.error_reason.empty());
        return events;
      }
    }
    start = end;
  }
  return events;
}

std::vector<Ev> RunFresh(const std::vector<uint8_t>& wire, std::vector<size_t> cuts = {},
                         ReaderLimits limits = {}, Role role = Role::kServer,
                         bool compressed_allowed = false) {
  MessageReader reader(role, limits);
  reader.set_compressed_allowed(compressed_allowed);
  return Feed(reader, wire, std::move(cuts));
}

// The same events whole, at every single cut, byte by byte and in random chunkings.
void ExpectEverySplit(const std::vector<uint8_t>& wire, const std::vector<Ev>& expected,
                      ReaderLimits limits = {}, Role role = Role::kServer,
                      bool compressed_allowed = false) {
  const bool z = compressed_allowed;
  ASSERT_EQ(RunFresh(wire, {}, limits, role, z), expected);
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    ASSERT_EQ(RunFresh(wire, {cut}, limits, role, z), expected) << "cut at " << cut;
  }
  std::vector<size_t> every;
  for (size_t i = 1; i < wire.size(); ++i) every.push_back(i);
  ASSERT_EQ(RunFresh(wire, every, limits, role, z), expected) << "byte by byte";
  std::mt19937 rng(static_cast<uint32_t>(wire.size()));
  for (int iter = 0; iter < 50; ++iter) {
    std::vector<size_t> cuts;
    for (size_t pos = rng() % 16; pos < wire.size(); pos += 1 + rng() % 40) cuts.push_back(pos);
    ASSERT_EQ(RunFresh(wire, cuts, limits, role, z), expected) << "random chunking " << iter;
  }
}

TEST(MessageReaderTest, EveryMessageKind) {
  Wire w;
  w.Frame(Opcode::kText, "hello")
      .Frame(Opcode::kBinary, "\x00\x01\xFF\x80"sv)
      .Frame(Opcode::kText, "")
      .Frame(Opcode::kBinary, "")
      .Frame(Opcode::kText, "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5")
      .Frame(Opcode::kPing, "are you there")
      .Frame(Opcode::kPing, "")
      .Frame(Opcode::kPong, std::string(125, 'p'))
      .Frame(Opcode::kText, std::string(126, 't'))
      .Frame(Opcode::kBinary, std::string(300, '\x9C'))
      .Frame(Opcode::kClose, ClosePayload(1000, "bye \xE2\x82\xAC"))
      .Frame(Opcode::kClose, "")
      .Frame(Opcode::kClose, ClosePayload(4999));
  ExpectEverySplit(w.bytes(), {Text("hello"), Binary("\x00\x01\xFF\x80"sv), Text(""), Binary(""),
                               Text("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"),
                               Ping("are you there"), Ping(""), Pong(std::string(125, 'p')),
                               Text(std::string(126, 't')), Binary(std::string(300, '\x9C')),
                               Close(1000, "bye \xE2\x82\xAC"), Close(1005), Close(4999)});
}

TEST(MessageReaderTest, FragmentedWithInterleavedControlFrames) {
  Wire w;
  // "κόσμε" cut inside code points across fragments, pings between the fragments.
  w.Frame(Opcode::kText, "\xCE\xBA\xE1", false)
      .Frame(Opcode::kPing, "p1")
      .Frame(Opcode::kContinuation, "", false)
      .Frame(Opcode::kContinuation, "\xBD\xB9\xCF\x83\xCE", false)
      .Frame(Opcode::kPong, std::string(125, 'q'))
      .Frame(Opcode::kPing, "")
      .Frame(Opcode::kContinuation, "\xBC\xCE\xB5", true)
      .Frame(Opcode::kBinary, "ab", false)
      .Frame(Opcode::kContinuation, "cd", false)
      .Frame(Opcode::kClose, ClosePayload(1001, "going"))
      .Frame(Opcode::kContinuation, "ef", true)
      .Frame(Opcode::kBinary, "", false)  // A zero-length message in zero-length fragments.
      .Frame(Opcode::kContinuation, "", true)
      .Frame(Opcode::kText, "single");
  ExpectEverySplit(w.bytes(), {Ping("p1"), Pong(std::string(125, 'q')), Ping(""),
                               Text("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"),
                               Close(1001, "going"), Binary("abcdef"), Binary(""), Text("single")});
}

TEST(MessageReaderTest, LargeMessagesInRandomChunks) {
  std::string big(70000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  std::string multibyte;
  while (multibyte.size() < 66000) multibyte += "\xF0\x9F\x98\x80 \xE2\x82\xAC\xC3\xA9";
  Wire w;
  w.Frame(Opcode::kBinary, big)
      .Frame(Opcode::kText, multibyte.substr(0, 30001), false)
      .Frame(Opcode::kPing, "mid")
      .Frame(Opcode::kContinuation, multibyte.substr(30001), true)
      .Frame(Opcode::kText, multibyte);
  const std::vector<Ev> expected = {Binary(big), Ping("mid"), Text(multibyte), Text(multibyte)};
  ASSERT_EQ(RunFresh(w.bytes()), expected);
  std::mt19937 rng(1);
  for (int iter = 0; iter < 100; ++iter) {
    std::vector<size_t> cuts;
    const size_t max_step = iter < 50 ? 100 : 20000;
    for (size_t pos = rng() % 8; pos < w.bytes().size(); pos += 1 + rng() % max_step) {
      cuts.push_back(pos);
    }
    ASSERT_EQ(RunFresh(w.bytes(), cuts), expected) << iter;
  }
}

TEST(MessageReaderTest, ZeroCopyForWholeUnfragmentedFrames) {
  Wire w;
  w.Frame(Opcode::kBinary, "zero-copy payload")
      .Frame(Opcode::kPing, "ping!")
      .Frame(Opcode::kText, "");
  std::vector<uint8_t> buffer = w.bytes();
  const uint8_t* begin = buffer.data();
  const uint8_t* end = begin + buffer.size();
  std::span<uint8_t> input(buffer);
  MessageReader reader(Role::kServer, {});
  for (EventKind kind : {EventKind::kBinary, EventKind::kPing, EventKind::kText}) {
    const Event e = reader.Next(&input);
    ASSERT_EQ(e.kind, kind);
    EXPECT_GE(e.payload.data(), begin);
    EXPECT_LE(e.payload.data() + e.payload.size(), end);
  }
  EXPECT_EQ(reader.Next(&input).kind, EventKind::kNeedMore);
  EXPECT_FALSE(reader.InMessage());
  // The payload was unmasked in place.
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(begin) + 6, 17), "zero-copy payload");
}

TEST(MessageReaderTest, KeepBinaryMaskedHandsOutWholeBinaryFramesStillMasked) {
  Wire w;
  w.Frame(Opcode::kBinary, "still masked").Frame(Opcode::kText, "text is checked, so unmasked");
  std::vector<uint8_t> buffer = w.bytes();
  const std::vector<uint8_t> original = buffer;
  std::span<uint8_t> input(buffer);
  MessageReader reader(Role::kServer, {});
  reader.set_keep_binary_masked(true);
  Event e = reader.Next(&input);
  ASSERT_EQ(e.kind, EventKind::kBinary);
  ASSERT_TRUE(e.masked);
  // A view of the input, left as it arrived; its key unmasks it.
  EXPECT_EQ(e.payload.data(), buffer.data() + 6);
  EXPECT_TRUE(std::equal(buffer.begin(), buffer.begin() + 18, original.begin()));
  std::string plain(12, '\0');
  CopyMasked(reinterpret_cast<uint8_t*>(plain.data()), e.payload.data(), 12, e.mask);
  EXPECT_EQ(plain, "still masked");
  e = reader.Next(&input);
  ASSERT_EQ(e.kind, EventKind::kText);
  EXPECT_FALSE(e.masked);
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(e.payload.data()), e.payload.size()),
            "text is checked, so unmasked");
}

TEST(MessageReaderTest, KeepBinaryMaskedAtEverySplit) {
  // Whatever the cuts, the events are those of a plain reader once a masked payload is unmasked
  // with its key (Feed does): frames that span inputs or come in fragments arrive unmasked.
  Wire w;
  w.Frame(Opcode::kBinary, std::string(300, 'b'))
      .Frame(Opcode::kBinary, "frag", false)
      .Frame(Opcode::kPing, "p")
      .Frame(Opcode::kContinuation, "ment")
      .Frame(Opcode::kText, "txt")
      .Frame(Opcode::kBinary, "");
  const std::vector<Ev> expected = RunFresh(w.bytes());
  auto run = [&](std::vector<size_t> cuts) {
    MessageReader reader(Role::kServer, {});
    reader.set_keep_binary_masked(true);
    return Feed(reader, w.bytes(), std::move(cuts));
  };
  ASSERT_EQ(run({}), expected);
  for (size_t cut = 0; cut <= w.bytes().size(); ++cut) {
    ASSERT_EQ(run({cut}), expected) << "cut at " << cut;
  }
}

TEST(MessageReaderTest, SplitAndFragmentedPayloadsAreCopied) {
  Wire w;
  w.Frame(Opcode::kBinary, "abc", false).Frame(Opcode::kContinuation, "def");
  std::vector<uint8_t> buffer = w.bytes();
  std::span<uint8_t> input(buffer);
  MessageReader reader(Role::kServer, {});
  const Event e = reader.Next(&input);
  ASSERT_EQ(e.kind, EventKind::kBinary);
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(e.payload.data()), e.payload.size()),
            "abcdef");
  const bool inside =
      e.payload.data() >= buffer.data() && e.payload.data() < buffer.data() + buffer.size();
  EXPECT_FALSE(inside);
}

TEST(MessageReaderTest, InMessageAndPartialHeaders) {
  Wire w;
  w.Frame(Opcode::kText, "ab", false).Frame(Opcode::kContinuation, "cd");
  std::vector<uint8_t> bytes = w.bytes();
  MessageReader reader(Role::kServer, {});
  EXPECT_FALSE(reader.InMessage());
  std::span<uint8_t> input(bytes.data(), 1);  // Half a header.
  EXPECT_EQ(reader.Next(&input).kind, EventKind::kNeedMore);
  EXPECT_TRUE(reader.InMessage());
  input = std::span<uint8_t>(bytes.data() + 1, 7);  // Rest of the first frame.
  EXPECT_EQ(reader.Next(&input).kind, EventKind::kNeedMore);
  EXPECT_TRUE(reader.InMessage());
  input = std::span<uint8_t>(bytes.data() + 8, bytes.size() - 8);
  EXPECT_EQ(reader.Next(&input).kind, EventKind::kText);
  EXPECT_EQ(reader.Next(&input).kind, EventKind::kNeedMore);
  EXPECT_FALSE(reader.InMessage());
}

TEST(MessageReaderTest, ClientRoleReadsUnmaskedFrames) {
  Wire w;
  w.Frame(Opcode::kText, "from server", true, false)
      .Frame(Opcode::kBinary, "fr", false, false)
      .Frame(Opcode::kPing, "x", true, false)
      .Frame(Opcode::kContinuation, "ag", true, false)
      .Frame(Opcode::kClose, ClosePayload(1000), true, false);
  ExpectEverySplit(w.bytes(), {Text("from server"), Ping("x"), Binary("frag"), Close(1000)}, {},
                   Role::kClient);
  Wire masked;
  masked.Frame(Opcode::kText, "masked");
  EXPECT_EQ(RunFresh(masked.bytes(), {}, {}, Role::kClient),
            std::vector<Ev>{Error(CloseCode::kProtocolError)});
}

// Each error rule, with the events before it, at every split.
struct ErrorCase {
  const char* name;
  Wire wire;
  std::vector<Ev> expected;
};

std::vector<ErrorCase> ErrorCases() {
  std::vector<ErrorCase> cases;
  auto add = [&](const char* name, Wire w, std::vector<Ev> expected) {
    cases.push_back({name, std::move(w), std::move(expected)});
  };
  const Ev e1002 = Error(CloseCode::kProtocolError);
  const Ev e1007 = Error(CloseCode::kInvalidPayload);
  add("unmasked client frame",
      Wire().Frame(Opcode::kText, "ok").Frame(Opcode::kText, "x", true, false),
      {Text("ok"), e1002});
  for (uint8_t rsv : {0x40, 0x20, 0x10, 0x70}) {
    add("rsv bits", Wire().Raw(static_cast<uint8_t>(0x81 | rsv), "x"), {e1002});
  }
  for (uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    add("reserved opcode", Wire().Raw(static_cast<uint8_t>(0x80 | op), ""), {e1002});
  }
  add("fragmented ping", Wire().Frame(Opcode::kPing, "x", false), {e1002});
  add("fragmented close", Wire().Frame(Opcode::kClose, "", false), {e1002});
  add("ping over 125", Wire().Frame(Opcode::kPing, std::string(126, 'x')), {e1002});
  add("close over 125", Wire().Frame(Opcode::kClose, ClosePayload(1000, std::string(124, 'x'))),
      {e1002});
  add("continuation without message", Wire().Frame(Opcode::kContinuation, "x"), {e1002});
  add("continuation after complete message",
      Wire()
          .Frame(Opcode::kText, "a", false)
          .Frame(Opcode::kContinuation, "b")
          .Frame(Opcode::kContinuation, "c"),
      {Text("ab"), e1002});
  add("text inside fragmented message",
      Wire().Frame(Opcode::kText, "a", false).Frame(Opcode::kText, "b"), {e1002});
  add("binary inside fragmented message",
      Wire()
          .Frame(Opcode::kBinary, "a", false)
          .Frame(Opcode::kPing, "p")
          .Frame(Opcode::kBinary, "b", false),
      {Ping("p"), e1002});
  add("non-minimal 16-bit length", Wire().Bytes({0x82, 0xFE, 0x00, 0x05, 1, 2, 3, 4}), {e1002});
  add("non-minimal 64-bit length",
      Wire().Bytes({0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 1, 2, 3, 4}), {e1002});
  add("64-bit length top bit", Wire().Bytes({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}),
      {e1002});
  add("invalid utf-8", Wire().Frame(Opcode::kText, "ok\xC0\x80"), {e1007});
  add("surrogate", Wire().Frame(Opcode::kText, "\xED\xA0\x80"), {e1007});
  add("truncated utf-8 at message end", Wire().Frame(Opcode::kText, "\xE2\x82"), {e1007});
  add("truncated utf-8 across fragments",
      Wire().Frame(Opcode::kText, "ok", false).Frame(Opcode::kContinuation, "\xE2\x82"), {e1007});
  add("invalid utf-8 in continuation",
      Wire().Frame(Opcode::kText, "\xE2", false).Frame(Opcode::kContinuation, "\x82\x41"), {e1007});
  add("close with 1-byte payload", Wire().Frame(Opcode::kClose, "\x03"), {e1002});
  for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
    add("invalid close code", Wire().Frame(Opcode::kClose, ClosePayload(code)), {e1002});
  }
  add("close reason not utf-8", Wire().Frame(Opcode::kClose, ClosePayload(1000, "bad\xFF")),
      {e1007});
  add("close reason surrogate",
      Wire().Frame(Opcode::kPing, "").Frame(Opcode::kClose, ClosePayload(1000, "\xED\xBF\xBF")),
      {Ping(""), e1007});
  return cases;
}

TEST(MessageReaderTest, ErrorRules) {
  for (const ErrorCase& c : ErrorCases()) {
    SCOPED_TRACE(c.name);
    ExpectEverySplit(c.wire.bytes(), c.expected);
  }
}

// --- permessage-deflate (RFC 7692 §6) -----------------------------------------------------------

constexpr uint8_t kRsv1 = 0x40;
constexpr uint8_t kFin = 0x80;

TEST(MessageReaderTest, CompressedMessagesCarryTheirFlag) {
  Wire w;
  // The payload is DEFLATE data, so it is not UTF-8 even for a text message: not checked here.
  w.Raw(kFin | kRsv1 | uint8_t(Opcode::kText), "\xF2\x48\xCD\xC9\xC9\x07\x00")
      .Raw(kFin | kRsv1 | uint8_t(Opcode::kBinary), "bin")
      .Frame(Opcode::kText, "plain")  // Uncompressed in between: still allowed, still checked.
      .Raw(kRsv1 | uint8_t(Opcode::kText), "fr")  // Fragmented: RSV1 on the first frame only.
      .Frame(Opcode::kPing, "p")
      .Frame(Opcode::kContinuation, "ag", false)
      .Frame(Opcode::kContinuation, "\xFF")
      .Raw(kFin | kRsv1 | uint8_t(Opcode::kText), "");
  ExpectEverySplit(w.bytes(),
                   {Deflated(EventKind::kText, "\xF2\x48\xCD\xC9\xC9\x07\x00"),
                    Deflated(EventKind::kBinary, "bin"), Text("plain"), Ping("p"),
                    Deflated(EventKind::kText, "frag\xFF"), Deflated(EventKind::kText, "")},
                   {}, Role::kServer, true);
}

TEST(MessageReaderTest, CompressedBinaryIsNeverHandedOutMasked) {
  Wire w;
  w.Raw(kFin | kRsv1 | uint8_t(Opcode::kBinary), "zipped").Frame(Opcode::kBinary, "raw");
  std::vector<uint8_t> bytes = w.bytes();
  MessageReader reader(Role::kServer, {});
  reader.set_compressed_allowed(true);
  reader.set_keep_binary_masked(true);
  std::span<uint8_t> input(bytes);
  Event e = reader.Next(&input);
  ASSERT_EQ(e.kind, EventKind::kBinary);
  EXPECT_TRUE(e.compressed);
  EXPECT_FALSE(e.masked);
  EXPECT_EQ(std::string(e.payload.begin(), e.payload.end()), "zipped");
  e = reader.Next(&input);  // The echo's fast path is kept for uncompressed messages.
  ASSERT_EQ(e.kind, EventKind::kBinary);
  EXPECT_FALSE(e.compressed);
  EXPECT_TRUE(e.masked);
}

TEST(MessageReaderTest, CompressedRsvRules) {
  const Ev e1002 = Error(CloseCode::kProtocolError);
  struct Case {
    const char* name;
    Wire wire;
    std::vector<Ev> expected;
  };
  std::vector<Case> cases;
  cases.push_back({"RSV1 on a continuation",
                   std::move(Wire()
                                 .Raw(kRsv1 | uint8_t(Opcode::kText), "a")
                                 .Raw(kFin | kRsv1 | uint8_t(Opcode::kContinuation), "b")),
                   {e1002}});
  cases.push_back({"RSV1 on a continuation of a plain message",
                   std::move(Wire()
                                 .Frame(Opcode::kBinary, "a", false)
                                 .Raw(kFin | kRsv1 | uint8_t(Opcode::kContinuation), "b")),
                   {e1002}});
  for (Opcode op : {Opcode::kPing, Opcode::kPong, Opcode::kClose}) {
    cases.push_back({"RSV1 on a control frame",
                     std::move(Wire().Raw(kFin | kRsv1 | uint8_t(op), "")),
                     {e1002}});
  }
  for (uint8_t rsv : {0x20, 0x10, 0x60, 0x70}) {
    cases.push_back({"RSV2 or RSV3",
                     std::move(Wire().Raw(static_cast<uint8_t>(kFin | rsv | 0x1), "x")),
                     {e1002}});
  }
  for (Case& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectEverySplit(c.wire.bytes(), c.expected, {}, Role::kServer, true);
  }
  // Without negotiation RSV1 is a protocol error (RFC 6455 §5.2).
  Wire plain;
  plain.Raw(kFin | kRsv1 | uint8_t(Opcode::kText), "x");
  ExpectEverySplit(plain.bytes(), {e1002});
}

TEST(MessageReaderTest, CompressedSizeLimitLeavesRoomForIncompressibleData) {
  const ReaderLimits limits{1000};
  const uint64_t room = MessageReader::CompressedLimit(1000);
  ASSERT_GT(room, 1000u);
  ASSERT_LT(room, 1100u);
  Wire ok;
  ok.Raw(kFin | kRsv1 | uint8_t(Opcode::kBinary), std::string(room, 'z'));
  EXPECT_EQ(RunFresh(ok.bytes(), {}, limits, Role::kServer, true),
            std::vector<Ev>{Deflated(EventKind::kBinary, std::string(room, 'z'))});
  Wire over;
  over.Raw(kRsv1 | uint8_t(Opcode::kBinary), std::string(room - 10, 'z'))
      .Frame(Opcode::kContinuation, std::string(11, 'z'));
  EXPECT_EQ(RunFresh(over.bytes(), {}, limits, Role::kServer, true),
            std::vector<Ev>{Error(CloseCode::kMessageTooBig)});
  Wire plain;  // An uncompressed message keeps the plain limit.
  plain.Frame(Opcode::kBinary, std::string(1001, 'z'));
  EXPECT_EQ(RunFresh(plain.bytes(), {}, limits, Role::kServer, true),
            std::vector<Ev>{Error(CloseCode::kMessageTooBig)});
}

TEST(MessageReaderTest, ErrorIsSticky) {
  MessageReader reader(Role::kServer, {});
  Wire bad;
  bad.Frame(Opcode::kContinuation, "x");
  EXPECT_EQ(Feed(reader, bad.bytes()), std::vector<Ev>{Error(CloseCode::kProtocolError)});
  Wire good;
  good.Frame(Opcode::kText, "fine");
  std::vector<uint8_t> bytes = good.bytes();
  for (int i = 0; i < 3; ++i) {
    std::span<uint8_t> input(bytes);
    const Event e = reader.Next(&input);
    EXPECT_EQ(e.kind, EventKind::kError);
    EXPECT_EQ(e.close_code, 1002);
    EXPECT_FALSE(e.error_reason.empty());
  }
  reader.Reset();
  EXPECT_EQ(Feed(reader, good.bytes()), std::vector<Ev>{Text("fine")});
}

// §8.1: an invalid byte fails the message when it arrives, before the frame or message ends.
TEST(MessageReaderTest, Utf8FailsFast) {
  Wire w;
  w.Frame(Opcode::kText, "abc\xFF" + std::string(1000, 'z'));
  const std::vector<uint8_t>& bytes = w.bytes();
  MessageReader reader(Role::kServer, {});
  std::vector<uint8_t> first(bytes.begin(), bytes.begin() + 4 + 4 + 4);  // Header + "abc\xFF".
  std::span<uint8_t> input(first);
  EXPECT_EQ(reader.Next(&input).close_code, 1007);

  Wire fragmented;
  fragmented.Frame(Opcode::kText, "ok", false).Frame(Opcode::kContinuation, "\xF4\x90", false);
  MessageReader reader2(Role::kServer, {});
  EXPECT_EQ(Feed(reader2, fragmented.bytes()), std::vector<Ev>{Error(CloseCode::kInvalidPayload)});
}

TEST(MessageReaderTest, MaxMessageSizeUnfragmented) {
  ReaderLimits limits;
  limits.max_message_size = 1000;
  const std::string at(1000, 'a');
  ExpectEverySplit(Wire().Frame(Opcode::kBinary, at).bytes(), {Binary(at)}, limits);
  ExpectEverySplit(Wire().Frame(Opcode::kText, std::string(1001, 'a')).bytes(),
                   {Error(CloseCode::kMessageTooBig)}, limits);
  // Control frames are bounded by 125, not by the message limit.
  limits.max_message_size = 10;
  ExpectEverySplit(Wire().Frame(Opcode::kPing, std::string(100, 'p')).bytes(),
                   {Ping(std::string(100, 'p'))}, limits);
  limits.max_message_size = 0;
  ExpectEverySplit(Wire().Frame(Opcode::kText, "").Frame(Opcode::kText, "x").bytes(),
                   {Text(""), Error(CloseCode::kMessageTooBig)}, limits);
}

TEST(MessageReaderTest, MaxMessageSizeFragmented) {
  ReaderLimits limits;
  limits.max_message_size = 100;
  const std::string a(40, 'a');
  const std::string b(60, 'b');
  ExpectEverySplit(Wire()
                       .Frame(Opcode::kBinary, a, false)
                       .Frame(Opcode::kPing, std::string(125, 'p'))  // Not counted.
                       .Frame(Opcode::kContinuation, b)
                       .bytes(),
                   {Ping(std::string(125, 'p')), Binary(a + b)}, limits);
  ExpectEverySplit(
      Wire().Frame(Opcode::kBinary, a, false).Frame(Opcode::kContinuation, b + "x").bytes(),
      {Error(CloseCode::kMessageTooBig)}, limits);
  // The size is charged per message: the next message starts from zero.
  ExpectEverySplit(Wire()
                       .Frame(Opcode::kText, a, false)
                       .Frame(Opcode::kContinuation, b)
                       .Frame(Opcode::kText, b, false)
                       .Frame(Opcode::kContinuation, a)
                       .bytes(),
                   {Text(a + b), Text(b + a)}, limits);
}

TEST(MessageReaderTest, TooBigIsKnownFromTheHeaderAlone) {
  // A 2^40-byte frame announced in a header: refused before any payload arrives.
  Wire w;
  w.Bytes({0x82, 0xFF, 0, 0, 0x01, 0, 0, 0, 0, 0, 1, 2, 3, 4});
  EXPECT_EQ(RunFresh(w.bytes()), std::vector<Ev>{Error(CloseCode::kMessageTooBig)});
  // A limit past 4 GiB is capped there (the message buffer's size type), so 2^40 still fails...
  ReaderLimits unlimited;
  unlimited.max_message_size = UINT64_MAX;
  EXPECT_EQ(RunFresh(w.bytes(), {}, unlimited), std::vector<Ev>{Error(CloseCode::kMessageTooBig)});
  // ...while a 2 GiB frame is accepted and buffering starts without reserving 2 GiB up front.
  Wire big;
  big.Bytes({0x82, 0xFF, 0, 0, 0, 0, 0x80, 0, 0, 0, 1, 2, 3, 4});
  EXPECT_TRUE(RunFresh(big.bytes(), {}, unlimited).empty());
}

TEST(MessageReaderTest, ControlFrameSplitInsideFragmentedMessage) {
  // A ping that arrives in pieces in the middle of a fragmented message is staged after the
  // message bytes and removed again; the message comes out intact.
  Wire w;
  w.Frame(Opcode::kText, "first half ", false)
      .Frame(Opcode::kPing, std::string(125, 'P'))
      .Frame(Opcode::kContinuation, "second half");
  const std::vector<uint8_t>& bytes = w.bytes();
  const size_t ping_start = 6 + 11;
  const std::vector<Ev> expected = {Ping(std::string(125, 'P')), Text("first half second half")};
  for (size_t cut = ping_start + 1; cut < ping_start + 131; ++cut) {
    ASSERT_EQ(RunFresh(bytes, {cut}), expected) << cut;
    ASSERT_EQ(RunFresh(bytes, {cut, cut + 1, cut + 3}), expected) << cut;
  }
}

TEST(MessageReaderTest, RandomBytesFuzz) {
  std::mt19937 rng(2024);
  ReaderLimits limits;
  limits.max_message_size = 4096;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<uint8_t> bytes(rng() % 200);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    // Bias towards plausible headers so the fuzz gets past the first frame.
    if (!bytes.empty() && rng() % 2 == 0) bytes[0] = (rng() % 2 ? 0x80 : 0x00) | (rng() % 11);
    if (bytes.size() > 1 && rng() % 2 == 0) bytes[1] = 0x80 | (rng() % 130);
    std::vector<size_t> cuts;
    for (size_t pos = rng() % 8; pos < bytes.size(); pos += 1 + rng() % 16) cuts.push_back(pos);
    MessageReader reader(iter % 4 == 0 ? Role::kClient : Role::kServer, limits);
    const std::vector<Ev> events = Feed(reader, bytes, cuts);
    for (size_t i = 0; i < events.size(); ++i) {
      // Only the last event can be an error.
      ASSERT_TRUE(events[i].kind != EventKind::kError || i + 1 == events.size());
    }
  }
}

TEST(MessageReaderTest, MutatedStreamFuzz) {
  Wire w;
  w.Frame(Opcode::kText, "hello", false)
      .Frame(Opcode::kPing, "p")
      .Frame(Opcode::kContinuation, "\xE2\x82\xAC world")
      .Frame(Opcode::kBinary, std::string(300, 'b'))
      .Frame(Opcode::kClose, ClosePayload(1000, "bye"));
  std::mt19937 rng(77);
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<uint8_t> bytes = w.bytes();
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f)
      bytes[rng() % bytes.size()] ^= static_cast<uint8_t>(1 << (rng() % 8));
    std::vector<size_t> cuts;
    for (size_t pos = rng() % 8; pos < bytes.size(); pos += 1 + rng() % 64) cuts.push_back(pos);
    MessageReader reader(Role::kServer, {});
    const std::vector<Ev> events = Feed(reader, bytes, cuts);
    for (const Ev& e : events) {
      if (e.kind == EventKind::kText) {
        ASSERT_TRUE(IsValidUtf8(std::span<const uint8_t>(
            reinterpret_cast<const uint8_t*>(e.payload.data()), e.payload.size())));
      }
      if (e.kind == EventKind::kPing || e.kind == EventKind::kPong) {
        ASSERT_LE(e.payload.size(), 125u);
      }
    }
  }
}

}  // namespace
}  // namespace ringcast::ws
