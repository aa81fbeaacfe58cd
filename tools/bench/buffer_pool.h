// BufferPool: the provided-buffer ring (IORING_REGISTER_PBUF_RING, kernel 5.19) behind one
// worker's multishot receives. The kernel picks a buffer only when data arrives, so ten
// thousand idle connections cost no receive memory.
//
// Owner: one worker thread. liburing 2.3 (Debian 12) has no io_uring_setup_buf_ring, so the
// ring is mmapped here and registered with io_uring_register_buf_ring. A buffer handed out in a
// completion belongs to the worker until Recycle(); Commit() publishes the recycled ones to the
// kernel in one tail update at the end of each loop iteration.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>

namespace ringcast::bench {

class BufferPool {
 public:
  BufferPool() = default;
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  ~BufferPool();

  // `count`: a power of two <= 32768 (buffer ids are 16 bits). Returns 0 or -errno.
  int Init(io_uring* ring, uint16_t group_id, uint32_t count, uint32_t buffer_size);
  // Unregisters and unmaps; must run before the ring is torn down. Safe to repeat.
  void Reset();

  uint16_t group_id() const { return group_id_; }
  uint8_t* Buffer(uint16_t id) const { return buffers_ + size_t{id} * buffer_size_; }
  void Recycle(uint16_t id);
  void Commit();

 private:
  io_uring* ring_ = nullptr;
  io_uring_buf_ring* ring_memory_ = nullptr;
  size_t ring_bytes_ = 0;
  uint8_t* buffers_ = nullptr;
  size_t buffers_bytes_ = 0;
  uint32_t count_ = 0;
  uint32_t buffer_size_ = 0;
  uint16_t group_id_ = 0;
  int pending_ = 0;
};

}  // namespace ringcast::bench
