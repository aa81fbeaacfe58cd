// BufferRing: a provided-buffer ring (IORING_REGISTER_PBUF_RING, 5.19) for multishot recv.
//
// Owner: one shard. The kernel picks a buffer when data arrives, so an idle connection holds no
// receive memory. liburing 2.3 has no io_uring_setup_buf_ring: the ring is mmapped here and
// registered with io_uring_register_buf_ring. Each buffer is followed by kPadding spare bytes
// so parsers that read a little past the end (simdjson needs 64) stay in bounds.
//
// A buffer handed out in a completion belongs to the shard until Recycle(); recycled buffers
// are published to the kernel in one tail update by Commit() at the end of a loop iteration.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>

namespace ringcast {

class BufferRing {
 public:
  static constexpr size_t kPadding = 64;

  BufferRing() = default;
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;
  ~BufferRing() { Reset(); }

  // `count` must be a power of two ≤ 32768. Returns 0 or -errno.
  int Init(io_uring* ring, uint16_t group_id, uint32_t count, uint32_t buffer_size);
  // Unregisters and unmaps; must run before the ring is torn down. Safe to repeat.
  void Reset();

  uint16_t group_id() const { return group_id_; }
  uint32_t buffer_size() const { return buffer_size_; }
  uint8_t* Buffer(uint16_t buffer_id) const { return buffers_ + size_t{buffer_id} * stride_; }

  void Recycle(uint16_t buffer_id);
  void Commit();

 private:
  io_uring* ring_ = nullptr;
  io_uring_buf_ring* ring_memory_ = nullptr;
  size_t ring_bytes_ = 0;
  uint8_t* buffers_ = nullptr;
  size_t buffers_bytes_ = 0;
  uint32_t count_ = 0;
  uint32_t buffer_size_ = 0;
  size_t stride_ = 0;
  uint16_t group_id_ = 0;
  int pending_ = 0;
};

}  // namespace ringcast
