// MessageReader (RFC 6455 §5.2-§5.5, §7.4, §8.1). See ws_reader.h for the contract.
//
// Two states per frame: kHeader (waiting for a complete header; a partial one is carried in
// header_buf_) and kPayload (the current frame's payload continues past the input, so it is
// being unmasked piecewise into message_). A frame whose payload is wholly inside the input
// never enters kPayload: it is delivered in place (unfragmented or control) or appended to
// message_ in one go (a fragment).
#include "proto/ws_reader.h"

#include <algorithm>
#include <cstring>

namespace ringcast::ws {

static_assert(sizeof(MessageReader) <= 96, "MessageReader lives in every connection");

namespace {

// Upper bound on what an announced frame length alone may reserve up front. The limit check
// has already passed, so this only matters when max_message_size is configured very large: a
// peer announcing 2^40 bytes must not make us ask the allocator for them before any arrive.
constexpr size_t kMaxUpfrontReserve = size_t{16} << 20;

constexpr bool IsKnownOpcode(uint8_t op) {
  // §5.2: 0x3-0x7 and 0xB-0xF are reserved for further (non-)control frames.
  return op <= 0x2 || (op >= 0x8 && op <= 0xA);
}

Event MakeEvent(EventKind kind, std::span<const uint8_t> payload = {}, uint16_t code = 0) {
  Event e;
  e.kind = kind;
  e.payload = payload;
  e.close_code = code;
  return e;
}

}  // namespace

Event MessageReader::Next(std::span<uint8_t>* input) {
  if (state_ == State::kError) {
    Event e = MakeEvent(EventKind::kError, {}, error_code_);
    e.error_reason = error_reason_;
    return e;
  }
  // The previous event's payload may point into message_; it has now expired.
  switch (release_) {
    case Release::kNone:
      break;
    case Release::kMessage:
      FreeMessage();
      break;
    case Release::kControl:
      message_.truncate(message_.size() - control_size_);
      if (message_.empty()) FreeMessage();
      break;
  }
  release_ = Release::kNone;

  for (;;) {
    Event e = state_ == State::kHeader ? ReadHeader(input) : ReadPayload(input);
    // kNeedMore with input left means "a fragment was absorbed, keep going".
    if (e.kind != EventKind::kNeedMore || input->empty()) return e;
  }
}

void MessageReader::Reset() {
  FreeMessage();
  frame_remaining_ = 0;
  error_reason_ = nullptr;
  utf8_.Reset();
  header_size_ = 0;
  error_code_ = 0;
  state_ = State::kHeader;
  release_ = Release::kNone;
  frame_opcode_ = Opcode::kContinuation;
  frame_fin_ = false;
  message_opcode_ = Opcode::kContinuation;
  control_size_ = 0;
  message_compressed_ = false;
}

bool MessageReader::InMessage() const {
  return state_ == State::kPayload || header_size_ != 0 || message_opcode_ != Opcode::kContinuation;
}

Event MessageReader::ReadHeader(std::span<uint8_t>* input) {
  FrameHeader header;
  HeaderResult parsed;
  const size_t carried = header_size_;
  if (carried == 0) {
    if (input->empty()) return {};
    parsed = ParseFrameHeader(*input, &header);
    if (parsed.status == HeaderStatus::kNeedMore) {
      // Fewer bytes than the header needs, so fewer than kMaxHeaderSize: they fit.
      std::memcpy(header_buf_, input->data(), input->size());
      header_size_ = static_cast<uint8_t>(input->size());
      *input = {};
      return {};
    }
  } else {
    uint8_t joined[kMaxHeaderSize];
    const size_t take = std::min(kMaxHeaderSize - carried, input->size());
    std::memcpy(joined, header_buf_, carried);
    if (take != 0) std::memcpy(joined + carried, input->data(), take);
    parsed = ParseFrameHeader(std::span<const uint8_t>(joined, carried + take), &header);
    if (parsed.status == HeaderStatus::kNeedMore) {
      // Still short of a header, so take was all of the input.
      if (take != 0) std::memcpy(header_buf_ + carried, input->data(), take);
      header_size_ = static_cast<uint8_t>(carried + take);
      *input = {};
      return {};
    }
  }
  if (parsed.status == HeaderStatus::kError) {
    return Fail(CloseCode::kProtocolError, parsed.error_reason.data());  // A literal.
  }
  *input = input->subspan(header.header_size - carried);
  header_size_ = 0;
  return BeginFrame(header, input);
}

Event MessageReader::BeginFrame(const FrameHeader& header, std::span<uint8_t>* input) {
  const Opcode op = header.opcode;
  // §5.2: RSV1-3 MUST be 0 unless an extension defining them was negotiated. permessage-deflate
  // defines RSV1 (RFC 7692 §6), on the first frame of a data message only (§6.1: never on a
  // control frame; continuations carry 0).
  constexpr uint8_t kRsv1 = 0x4;
  if ((header.rsv & ~kRsv1) != 0 || (header.rsv != 0 && !compressed_allowed_)) {
    return Fail(CloseCode::kProtocolError, "reserved bits set");
  }
  if (!IsKnownOpcode(static_cast<uint8_t>(op))) {
    return Fail(CloseCode::kProtocolError, "reserved opcode");
  }
  const bool compressed = header.rsv != 0;
  if (compressed && (IsControl(op) || op == Opcode::kContinuation)) {
    return Fail(CloseCode::kProtocolError, "RSV1 on a control or continuation frame");
  }
  // §5.1: clients MUST mask every frame, servers MUST NOT; either violation closes with 1002.
  if (header.masked != (role_ == Role::kServer)) {
    return Fail(CloseCode::kProtocolError,
                role_ == Role::kServer ? "unmasked client frame" : "masked server frame");
  }
  const bool control = IsControl(op);
  if (control) {
    // §5.5: control frames MUST NOT be fragmented and carry at most 125 payload bytes.
    if (!header.fin) return Fail(CloseCode::kProtocolError, "fragmented control frame");
    if (header.payload_size > kMaxControlPayload) {
      return Fail(CloseCode::kProtocolError, "control frame payload over 125 bytes");
    }
  } else {
    // §5.4: fragments of one message are contiguous; only control frames may be interleaved.
    if (op == Opcode::kContinuation) {
      if (message_opcode_ == Opcode::kContinuation) {
        return Fail(CloseCode::kProtocolError, "continuation frame without a message");
      }
    } else if (message_opcode_ != Opcode::kContinuation) {
      return Fail(CloseCode::kProtocolError, "new message inside a fragmented message");
    }
    // The size is known from the header alone, so refuse before buffering anything (§10.4).
    // No control frame is staged here, so message_ holds exactly the message so far.
    const bool in_compressed = op == Opcode::kContinuation ? message_compressed_ : compressed;
    const uint64_t limit =
        in_compressed ? std::min<uint64_t>(CompressedLimit(limits_.max_message_size), UINT32_MAX)
                      : limits_.max_message_size;
    if (header.payload_size > limit - message_.size()) {
      return Fail(CloseCode::kMessageTooBig, "message too big");
    }
  }

  std::memcpy(mask_, header.mask, 4);
  frame_opcode_ = op;
  frame_fin_ = header.fin;
  frame_remaining_ = header.payload_size;

  if (header.payload_size <= input->size()) {
    // The whole payload is here.
    const size_t size = static_cast<size_t>(header.payload_size);
    uint8_t* payload = input->data();
    *input = input->subspan(size);
    frame_remaining_ = 0;
    const bool unfragmented = header.fin && op != Opcode::kContinuation;
    if (control || unfragmented) {
      if (op == Opcode::kBinary && header.masked && keep_binary_masked_ && !compressed) {
        Event e = MakeEvent(EventKind::kBinary, {payload, size});
        e.masked = true;
        std::memcpy(e.mask, mask_, 4);
        return e;
      }
      // Zero-copy: unmask in place and hand out a view of the caller's buffer.
      if (header.masked) ApplyMask(payload, size, mask_);
      const std::span<const uint8_t> view(payload, size);
      if (control) return DeliverControl(view);
      if (op == Opcode::kText && !compressed && !IsValidUtf8(view)) {
        return Fail(CloseCode::kInvalidPayload, "invalid UTF-8 in text message");
      }
      Event e = MakeEvent(op == Opcode::kText ? EventKind::kText : EventKind::kBinary, view);
      e.compressed = compressed;
      return e;
    }
    if (op != Opcode::kContinuation) {
      message_opcode_ = op;
      message_compressed_ = compressed;
      utf8_.Reset();
    }
    if (!AppendPayload(payload, size)) {
      return Fail(CloseCode::kInvalidPayload, "invalid UTF-8 in text message");
    }
    return header.fin ? FinishMessage() : Event{};
  }

  // The payload continues past this input: assemble it in message_.
  if (control) {
    control_size_ = static_cast<uint8_t>(header.payload_size);
  } else if (op != Opcode::kContinuation) {
    message_opcode_ = op;
    message_compressed_ = compressed;
    utf8_.Reset();
  }
  const size_t needed =
      message_.size() + std::min<uint64_t>(header.payload_size, kMaxUpfrontReserve);
  if (needed > message_.capacity()) {
    // Geometric growth across fragments, so a message of many small fragments stays linear.
    message_.reserve(std::max(needed, 2 * message_.capacity()));
  }
  state_ = State::kPayload;
  return ReadPayload(input);
}

Event MessageReader::ReadPayload(std::span<uint8_t>* input) {
  const size_t size = static_cast<size_t>(std::min<uint64_t>(frame_remaining_, input->size()));
  if (size == 0) return {};
  if (!AppendPayload(input->data(), size)) {
    return Fail(CloseCode::kInvalidPayload, "invalid UTF-8 in text message");
  }
  *input = input->subspan(size);
  frame_remaining_ -= size;
  if (frame_remaining_ != 0) return {};
  state_ = State::kHeader;
  if (IsControl(frame_opcode_)) {
    release_ = Release::kControl;
    return DeliverControl(
        std::span<const uint8_t>(message_.data() + message_.size() - control_size_, control_size_));
  }
  return frame_fin_ ? FinishMessage() : Event{};
}

bool MessageReader::AppendPayload(const uint8_t* data, size_t size) {
  if (size == 0) return true;
  const size_t old_size = message_.size();
  message_.append(data, size);
  uint8_t* piece = message_.data() + old_size;
  if (role_ == Role::kServer) {
    ApplyMask(piece, size, mask_);
    // Rotate the key so the next piece starts at mask_[0] (§5.3: byte i uses key[i mod 4]).
    const uint8_t key[4] = {mask_[0], mask_[1], mask_[2], mask_[3]};
    for (size_t i = 0; i < 4; ++i) mask_[i] = key[(i + size) & 3];
  }
  // §8.1: fail fast on invalid text, piece by piece, rather than once the message is complete.
  // Compressed text is checked once inflated, by whoever inflates it.
  if (!IsControl(frame_opcode_) && message_opcode_ == Opcode::kText && !message_compressed_) {
    return utf8_.Feed(std::span<const uint8_t>(piece, size));
  }
  return true;
}

Event MessageReader::FinishMessage() {
  const Opcode op = message_opcode_;
  const bool compressed = message_compressed_;
  message_opcode_ = Opcode::kContinuation;
  message_compressed_ = false;
  if (op == Opcode::kText && !compressed && !utf8_.Finish()) {
    return Fail(CloseCode::kInvalidPayload, "truncated UTF-8 sequence in text message");
  }
  release_ = Release::kMessage;
  Event e = MakeEvent(op == Opcode::kText ? EventKind::kText : EventKind::kBinary,
                      std::span<const uint8_t>(message_.data(), message_.size()));
  e.compressed = compressed;
  return e;
}

Event MessageReader::DeliverControl(std::span<const uint8_t> payload) {
  switch (frame_opcode_) {
    case Opcode::kPing:
      return MakeEvent(EventKind::kPing, payload);
    case Opcode::kPong:
      return MakeEvent(EventKind::kPong, payload);
    default:
      break;
  }
  // §5.5.1: an empty close body means "no status" (reported as 1005, §7.1.5); otherwise the
  // first two bytes are the code and the rest is a UTF-8 reason.
  if (payload.empty()) return MakeEvent(EventKind::kClose, {}, uint16_t{1005});
  if (payload.size() == 1) return Fail(CloseCode::kProtocolError, "close payload of 1 byte");
  const auto code = static_cast<uint16_t>((payload[0] << 8) | payload[1]);
  if (!IsValidWireCloseCode(code)) return Fail(CloseCode::kProtocolError, "invalid close code");
  const std::span<const uint8_t> reason = payload.subspan(2);
  if (!IsValidUtf8(reason)) return Fail(CloseCode::kInvalidPayload, "invalid UTF-8 close reason");
  return MakeEvent(EventKind::kClose, reason, code);
}

Event MessageReader::Fail(CloseCode code, const char* reason) {
  state_ = State::kError;
  error_code_ = static_cast<uint16_t>(code);
  error_reason_ = reason;
  // The connection is finished; nothing it buffered will be read again.
  FreeMessage();
  release_ = Release::kNone;
  header_size_ = 0;
  message_opcode_ = Opcode::kContinuation;
  message_compressed_ = false;
  Event e = MakeEvent(EventKind::kError, {}, error_code_);
  e.error_reason = reason;
  return e;
}

void MessageReader::FreeMessage() {
  // Returns the memory, so an idle reader (thousands per shard) owns no heap.
  message_.reset();
}

}  // namespace ringcast::ws
