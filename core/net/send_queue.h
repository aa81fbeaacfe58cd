// SendQueue: the frames queued for one connection, oldest first.
//
// Owner: the connection's shard. Holds one reference on each frame. Only the head frame can be
// partly sent (head_offset). The backing array is allocated on first use and freed when the
// queue drains, so an idle connection owns no send memory.
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

  bool empty() const { return count_ == 0; }
  uint32_t count() const { return count_; }
  uint64_t bytes() const { return bytes_; }  // Unsent bytes.

  // Takes over one reference.
  void Push(SharedFrame* frame);

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
  void Grow();
  SharedFrame*& At(uint32_t index) const { return items_[(head_ + index) & (capacity_ - 1)]; }

  SharedFrame** items_ = nullptr;
  uint32_t capacity_ = 0;  // Power of two.
  uint32_t head_ = 0;
  uint32_t count_ = 0;
  uint32_t head_offset_ = 0;
  uint32_t in_flight_ = 0;  // Frames given to the send in flight.
  uint64_t bytes_ = 0;
};

}  // namespace ringcast
