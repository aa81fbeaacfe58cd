// SendQueue: the frames queued for one connection, oldest first.
//
// Owner: the connection's shard. Holds one reference on each frame. Only the head frame can be
// partly sent. All state lives in one heap block that exists only while something is queued,
// so an idle connection pays for a single null pointer.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "core/net/shared_frame.h"

namespace ringcast {

class SendQueue {
 public:
  SendQueue() = default;
  SendQueue(const SendQueue&) = delete;
  SendQueue& operator=(const SendQueue&) = delete;
  ~SendQueue() { Clear(); }

  bool empty() const { return block_ == nullptr; }
  uint32_t count() const { return block_ == nullptr ? 0 : block_->count; }
  uint64_t bytes() const { return block_ == nullptr ? 0 : block_->bytes; }  // Unsent bytes.

  // Takes over one reference.
  void Push(SharedFrame* frame);

  // Encodes a message for this connection alone into the cork at the tail (a new cork of at
  // least kCorkBytes when the tail is shared, in flight or full). With `unmask_key` the payload
  // is still masked and is unmasked as it is copied (SharedFrame::AppendMessage).
  void PushMessage(ws::Opcode opcode, std::span<const uint8_t> payload,
                   const uint8_t* unmask_key = nullptr, bool compressed = false);
  static constexpr size_t kCorkBytes = 16 * 1024;

  // Fills up to `max` iovecs with the unsent bytes, in order, and returns how many. Those frames
  // now belong to a send in flight and stay queued until Consume() reports its result.
  uint32_t BeginSend(iovec* iov, uint32_t max);

  // The send in flight wrote `sent` bytes (possibly fewer than it was given): drops them from the
  // front, releasing frames that are now fully sent.
  void Consume(uint64_t sent);

  // Releases every frame that no send has touched: frames in flight must stay alive for the
  // kernel, and a partly sent head must finish so the byte stream stays a sequence of whole
  // frames. Used when a connection is cut off.
  void DropUnstarted();

  void Clear();

 private:
  struct Block {
    uint64_t bytes;
    uint32_t capacity;  // Power of two.
    uint32_t head;
    uint32_t count;
    uint32_t head_offset;  // Bytes of the head frame already sent.
    uint32_t in_flight;    // Frames given to the send in flight.
    SharedFrame* items[];  // NOLINT: flexible array member, `capacity` long.

    SharedFrame*& At(uint32_t index) { return items[(head + index) & (capacity - 1)]; }
  };

  void Grow();

  Block* block_ = nullptr;
};

}  // namespace ringcast
