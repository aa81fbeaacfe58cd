// libFuzzer harness for ws::MessageReader (proto/ws_reader.h) and the UTF-8 validators it uses.
//
// Input: byte 0 picks the reader's settings (bit 0: role, 0 = server reading masked client
// frames; bits 1-2: max_message_size 64, 200, 4096 or 1 MiB; bit 3: permessage-deflate agreed,
// so RSV1 marks a message compressed; bits 4-6: a deflater window, 9-15, for the round trip
// below), byte 1 seeds the split points, the rest is the byte stream from the peer. The stream is
// read twice, whole and cut into pieces at up to 8 points derived from byte 1; each piece is its
// own allocation of exactly its size, so ASan sees any read past what the kernel would have
// delivered.
//
// Invariants checked beyond "no crash, no sanitizer report":
// - the reader only shrinks its input, and kNeedMore leaves it empty;
// - a text message or close reason is valid UTF-8 (by a byte-at-a-time reference validator); no
//   message exceeds max_message_size; control payloads are at most 125 bytes; close codes are
//   valid on the wire (or 1005 with no body); an error carries 1002, 1007 or 1009 and repeats;
// - the split read yields exactly the events of the whole read (for errors: the same close code;
//   the reason may differ, e.g. "truncated" when the cut falls inside a code point), and both
//   readers end in the same InMessage() state;
// - Reset() returns the reader to its initial state (a second whole read gives the same events);
// - IsValidUtf8 and Utf8Validator fed the same pieces agree with the reference on the stream;
// - permessage-deflate (RFC 7692): a compressed message only when agreed, within
//   MessageReader::CompressedLimit; inflating it (ws::Inflater, as WsDriver does) never makes more
//   than max_message_size + 1 bytes, and says kTooBig exactly when the message is larger; the
//   stream itself, compressed by ws::Deflater and inflated again, is the stream (or was not
//   smaller compressed).
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "proto/utf8.h"
#include "proto/ws_deflate.h"
#include "proto/ws_frame.h"
#include "proto/ws_reader.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using ringcast::ws::Event;
using ringcast::ws::EventKind;
using ringcast::ws::MessageReader;

struct Recorded {
  EventKind kind;
  std::vector<uint8_t> payload;
  uint16_t code;
  bool compressed = false;

  bool operator==(const Recorded& other) const {
    if (kind != other.kind || code != other.code) return false;
    return kind == EventKind::kError ||
           (payload == other.payload && compressed == other.compressed);
  }
};

// What WsDriver does with a compressed message: inflated within the limit.
void CheckInflate(std::span<const uint8_t> compressed, uint64_t max_message) {
  static ringcast::ws::Inflater inflater;  // One per shard in the server: reused, as here.
  const ringcast::ws::InflateStatus status = inflater.Inflate(compressed, max_message);
  FUZZ_CHECK(inflater.output().size() <= max_message + 1);
  if (status == ringcast::ws::InflateStatus::kOk)
    FUZZ_CHECK(inflater.output().size() <= max_message);
  if (status == ringcast::ws::InflateStatus::kTooBig) {
    FUZZ_CHECK(inflater.output().size() == max_message + 1);
  }
  inflater.Trim(64 << 10);
}

// Drains `reader` over one piece of input, checking each event, and appends the events to
// `out`. Returns false once the reader has reported an error.
bool Drain(MessageReader& reader, std::span<uint8_t> input, uint64_t max_message,
           bool compressed_allowed, std::vector<Recorded>* out) {
  for (;;) {
    const size_t before = input.size();
    const Event e = reader.Next(&input);
    FUZZ_CHECK(input.size() <= before);
    const std::span<const uint8_t> p = e.payload;
    switch (e.kind) {
      case EventKind::kNeedMore:
        FUZZ_CHECK(input.empty());
        return true;
      case EventKind::kText:
      case EventKind::kBinary:
        if (e.compressed) {
          FUZZ_CHECK(compressed_allowed);
          FUZZ_CHECK(p.size() <= MessageReader::CompressedLimit(max_message));
          CheckInflate(p, max_message);
          break;
        }
        if (e.kind == EventKind::kText) FUZZ_CHECK(ringcast::fuzz::ReferenceUtf8(p));
        FUZZ_CHECK(p.size() <= max_message);
        break;
      case EventKind::kPing:
      case EventKind::kPong:
        FUZZ_CHECK(p.size() <= ringcast::ws::kMaxControlPayload);
        break;
      case EventKind::kClose:
        if (e.close_code == 1005) {
          FUZZ_CHECK(p.empty());
        } else {
          FUZZ_CHECK(ringcast::ws::IsValidWireCloseCode(e.close_code));
          FUZZ_CHECK(p.size() <= ringcast::ws::kMaxControlPayload - 2);
          FUZZ_CHECK(ringcast::fuzz::ReferenceUtf8(p));
        }
        break;
      case EventKind::kError: {
        FUZZ_CHECK(e.close_code == 1002 || e.close_code == 1007 || e.close_code == 1009);
        FUZZ_CHECK(!e.error_reason.empty());
        out->push_back({e.kind, {}, e.close_code});
        // Finished: the same error again, whatever comes next.
        uint8_t more[1] = {0x81};
        std::span<uint8_t> next(more);
        FUZZ_CHECK(reader.Next(&next).kind == EventKind::kError);
        FUZZ_CHECK(!reader.InMessage());
        return false;
      }
    }
    out->push_back({e.kind, std::vector<uint8_t>(p.begin(), p.end()), e.close_code, e.compressed});
  }
}

std::vector<Recorded> ReadWhole(MessageReader& reader, std::span<const uint8_t> stream,
                                uint64_t max_message, bool compressed_allowed) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[stream.size() + 1]);
  if (!stream.empty()) std::memcpy(copy.get(), stream.data(), stream.size());
  std::vector<Recorded> events;
  Drain(reader, std::span<uint8_t>(copy.get(), stream.size()), max_message, compressed_allowed,
        &events);
  return events;
}

// The stream as one message: compressed (a form smaller than it, or none) and inflated back.
void CheckDeflateRoundTrip(std::span<const uint8_t> stream, int window_bits) {
  static std::unique_ptr<ringcast::ws::Deflater> deflaters[7];
  auto& deflater = deflaters[window_bits - 9];
  if (!deflater) deflater = std::make_unique<ringcast::ws::Deflater>(window_bits, 6);
  std::unique_ptr<uint8_t[]> out(new uint8_t[stream.size() + 4]);
  const size_t size = deflater->Compress(stream, out.get(), stream.size());
  FUZZ_CHECK(size < stream.size() || size == 0);
  if (size == 0) return;
  ringcast::ws::Inflater inflater;
  FUZZ_CHECK(inflater.Inflate({out.get(), size}, stream.size()) ==
             ringcast::ws::InflateStatus::kOk);
  FUZZ_CHECK(inflater.output().size() == stream.size());
  FUZZ_CHECK(std::memcmp(inflater.output().data(), stream.data(), stream.size()) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t settings = data[0];
  const uint8_t split_seed = data[1];
  const std::span<const uint8_t> stream(data + 2, size - 2);

  const auto role = (settings & 1) != 0 ? ringcast::ws::Role::kClient : ringcast::ws::Role::kServer;
  constexpr uint64_t kLimits[4] = {64, 200, 4096, 1 << 20};
  const ringcast::ws::ReaderLimits limits{kLimits[(settings >> 1) & 3]};

  const bool compressed_allowed = (settings & 8) != 0;
  MessageReader whole_reader(role, limits);
  whole_reader.set_compressed_allowed(compressed_allowed);
  const std::vector<Recorded> whole =
      ReadWhole(whole_reader, stream, limits.max_message_size, compressed_allowed);

  const std::vector<size_t> cuts = ringcast::fuzz::SplitPoints(stream.size(), split_seed, 8);
  MessageReader split_reader(role, limits);
  split_reader.set_compressed_allowed(compressed_allowed);
  std::vector<Recorded> split;
  ringcast::Utf8Validator validator;
  bool utf8_ok = true;
  size_t begin = 0;
  bool reading = true;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : stream.size();
    const size_t length = end - begin;
    ringcast::fuzz::ExactCopy piece(stream.data() + begin, length);
    const std::span<const uint8_t> piece_bytes(stream.data() + begin, length);
    if (utf8_ok) utf8_ok = validator.Feed(piece_bytes);
    if (reading) {
      reading =
          Drain(split_reader, piece.bytes(), limits.max_message_size, compressed_allowed, &split);
    }
    begin = end;
  }
  FUZZ_CHECK(split == whole);
  FUZZ_CHECK(split_reader.InMessage() == whole_reader.InMessage());

  const bool reference = ringcast::fuzz::ReferenceUtf8(stream);
  FUZZ_CHECK(ringcast::IsValidUtf8(stream) == reference);
  FUZZ_CHECK((utf8_ok && validator.Finish()) == reference);

  whole_reader.Reset();
  FUZZ_CHECK(!whole_reader.InMessage());
  FUZZ_CHECK(ReadWhole(whole_reader, stream, limits.max_message_size, compressed_allowed) == whole);

  CheckDeflateRoundTrip(stream, 9 + ((settings >> 4) & 7) % 7);
  return 0;
}
