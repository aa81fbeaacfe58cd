// MessageReader: turns a stream of WebSocket bytes into messages and control frames
// (RFC 6455 §5.4 fragmentation, §5.5 control frames, §8.1 UTF-8, §7.4 close codes).
//
// One per connection, owned by the connection's shard. Pull-based and zero-copy where the
// bytes allow it:
// - A whole unfragmented frame inside the input is unmasked in place and its payload is returned
//   as a span into the input (the input is the receive buffer, which the caller owns until it
//   hands it back to the kernel).
// - A fragmented message, or a frame that spans inputs, is unmasked piecewise into an internal
//   message buffer that is allocated only then and released after the message is delivered.
// - Only an incomplete frame header (at most 13 bytes) is ever copied and carried between calls.
// The reader never allocates per frame; an idle reader owns no heap memory. A message delivered
// from the internal buffer is freed at the start of the next Next() call (its span is valid until
// then), so a caller that drains Next() to kNeedMore leaves the reader with no heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "proto/byte_buffer.h"
#include "proto/utf8.h"
#include "proto/ws_frame.h"

namespace ringcast::ws {

enum class Role : uint8_t {
  kServer,  // Peer is a client: every frame must be masked (§5.1).
  kClient,  // Peer is a server: no frame may be masked.
};

struct ReaderLimits {
  uint64_t max_message_size = 1 << 20;  // Whole message, all fragments → 1009 when exceeded.
};

enum class EventKind : uint8_t {
  kNeedMore,  // Input exhausted; call again with more bytes.
  kText,      // A complete text message (valid UTF-8).
  kBinary,    // A complete binary message.
  kPing,
  kPong,
  kClose,  // Peer's close frame, validated: close_code (kNoStatus if empty) and reason.
  kError,  // Protocol fault: close the connection with close_code and error_reason.
};

struct Event {
  EventKind kind = EventKind::kNeedMore;
  // kText / kBinary / kPing / kPong: the payload; kClose: the reason bytes (valid UTF-8).
  // Valid until the next call to Next() or Reset(), and while the input it came from is.
  std::span<const uint8_t> payload;
  uint16_t close_code = 0;        // kClose: code received; kError: code to send.
  std::string_view error_reason;  // kError: static string for the close frame and logs.
  // kBinary with set_keep_binary_masked: the payload is still masked with this key.
  bool masked = false;
  uint8_t mask[4] = {};
  // kText / kBinary with set_compressed_allowed: the message came with RSV1 (RFC 7692 §6): the
  // payload is DEFLATE data, not yet inflated, and a text message's UTF-8 is not checked yet
  // (that is the inflater's caller's job, on the inflated bytes).
  bool compressed = false;
};

class MessageReader {
 public:
  // max_message_size is capped at UINT32_MAX (the message buffer's size type).
  MessageReader(Role role, ReaderLimits limits)
      : limits_{limits.max_message_size < UINT32_MAX ? limits.max_message_size : UINT32_MAX},
        role_(role) {}

  // Consumes bytes from the front of *input (which it may modify in place: unmasking) and
  // returns the next event. Returns kNeedMore once *input is empty or holds only part of a
  // header (those bytes are then copied and *input becomes empty). After kError the reader
  // is finished: further calls return the same error.
  Event Next(std::span<uint8_t>* input);

  // Frees the message buffer and returns to the initial state.
  void Reset();

  // True while a fragmented or partially received message is buffered.
  bool InMessage() const;

  // A whole unfragmented binary frame inside the input is then handed out still masked
  // (Event::masked, Event::mask), for a caller that copies the payload anyway and unmasks in
  // that copy (ws::CopyMasked). Text (its UTF-8 is checked here), control frames and messages
  // assembled from pieces always come unmasked.
  void set_keep_binary_masked(bool keep) { keep_binary_masked_ = keep; }

  // permessage-deflate was negotiated (RFC 7692 §6): RSV1 on the first frame of a data message
  // marks it compressed (Event::compressed). RSV1 on a continuation or a control frame is still
  // a protocol error (1002), as is RSV1 without this. A compressed message is assembled and
  // limited as any other, but up to CompressedLimit(max_message_size) bytes: its size after
  // inflation is what --max-message-size bounds, and deflate may grow incompressible data a
  // little.
  void set_compressed_allowed(bool allowed) { compressed_allowed_ = allowed; }
  static uint64_t CompressedLimit(uint64_t max_message_size) {
    // deflateBound's stored-block overhead, with room to spare.
    return max_message_size + (max_message_size >> 12) + (max_message_size >> 14) + 64;
  }

 private:
  // Private state is the implementer's choice, under one constraint: the reader lives in every
  // connection, so sizeof(MessageReader) <= 96 (a static_assert in ws_reader.cc keeps it so).
  // No inline 125-byte control buffer: a control frame split across inputs is staged at the end
  // of message_ and truncated away after it is delivered.
  enum class State : uint8_t { kHeader, kPayload, kError };
  // What the previous Next() handed out of message_, to be undone at the start of the next call
  // (the event's payload span pointed into message_ until then).
  enum class Release : uint8_t { kNone, kMessage, kControl };

  Event ReadHeader(std::span<uint8_t>* input);
  Event ReadPayload(std::span<uint8_t>* input);
  Event BeginFrame(const FrameHeader& header, std::span<uint8_t>* input);
  bool AppendPayload(const uint8_t* data, size_t size);
  Event FinishMessage();
  Event DeliverControl(std::span<const uint8_t> payload);
  Event Fail(CloseCode code, const char* reason);
  void FreeMessage();

  ReaderLimits limits_;
  // Data bytes of the message being assembled, then (while a control frame that arrived in
  // pieces is being received) that control payload after them. Empty and capacity 0 when idle.
  ByteBuffer message_;
  uint64_t frame_remaining_ = 0;        // Payload bytes of the current frame not yet received.
  const char* error_reason_ = nullptr;  // Static, NUL-terminated (a literal).
  Utf8Validator utf8_;                  // Text messages assembled in message_ only.
  uint8_t header_buf_[kMaxHeaderSize - 1] = {};  // A partial header carried between calls.
  uint8_t header_size_ = 0;
  uint8_t mask_[4] = {};  // Current frame's key, rotated so the next payload byte uses mask_[0].
  uint16_t error_code_ = 0;
  Role role_;
  State state_ = State::kHeader;
  Release release_ = Release::kNone;
  Opcode frame_opcode_ = Opcode::kContinuation;
  bool frame_fin_ = false;
  // kText or kBinary while a message is being assembled in message_; kContinuation when none.
  Opcode message_opcode_ = Opcode::kContinuation;
  uint8_t control_size_ = 0;  // Payload size of a control frame staged in message_.
  bool keep_binary_masked_ = false;
  bool compressed_allowed_ = false;
  bool message_compressed_ = false;  // The message being assembled in message_ had RSV1.
};

}  // namespace ringcast::ws
