// SharedFrame: one encoded WebSocket frame (or any outgoing bytes), immutable once built,
// reference-counted across shards.
//
// Fan-out encodes a message once into a SharedFrame and queues the same bytes on every
// recipient's connection, on every shard; each queue holds one reference, and the frame frees
// itself when the last send that uses it completes. The count is atomic because the last
// reference may drop on any shard; a fan-out takes all of a shard's references in one
// AddRefs(n) rather than one atomic operation per recipient.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "proto/ws_frame.h"

namespace ringcast {

class SharedFrame {
 public:
  // A frame with header + payload, FIN set, unmasked (server to client). Refcount 1.
  static SharedFrame* EncodeMessage(ws::Opcode opcode, std::span<const uint8_t> payload);
  static SharedFrame* EncodeClose(uint16_t code, std::string_view reason);
  // Raw bytes (HTTP responses). Refcount 1.
  static SharedFrame* Copy(std::string_view bytes);

  void AddRefs(uint32_t n) { refs_.fetch_add(n, std::memory_order_relaxed); }
  void Release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) Free(this);
  }

  const uint8_t* data() const { return data_; }
  uint32_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }

 private:
  static SharedFrame* Allocate(size_t size);
  static void Free(SharedFrame* frame);
  SharedFrame() = default;

  std::atomic<uint32_t> refs_{1};
  uint32_t size_ = 0;
  uint8_t data_[];  // NOLINT: flexible array member, sized at allocation.
};

// Owning handle for code that holds a single reference outside a send queue.
class FrameRef {
 public:
  FrameRef() = default;
  explicit FrameRef(SharedFrame* frame) : frame_(frame) {}
  FrameRef(FrameRef&& other) noexcept : frame_(other.frame_) { other.frame_ = nullptr; }
  FrameRef& operator=(FrameRef&& other) noexcept {
    if (this != &other) {
      reset();
      frame_ = other.frame_;
      other.frame_ = nullptr;
    }
    return *this;
  }
  ~FrameRef() { reset(); }
  SharedFrame* get() const { return frame_; }
  SharedFrame* release() {
    SharedFrame* frame = frame_;
    frame_ = nullptr;
    return frame;
  }
  void reset() {
    if (frame_ != nullptr) frame_->Release();
    frame_ = nullptr;
  }

 private:
  SharedFrame* frame_ = nullptr;
};

}  // namespace ringcast
