#include "core/io/buffer_ring.h"

#include <sys/mman.h>

#include <cerrno>

namespace ringcast {

void BufferRing::Reset() {
  if (ring_memory_ != nullptr) {
    io_uring_unregister_buf_ring(ring_, group_id_);
    munmap(ring_memory_, ring_bytes_);
    ring_memory_ = nullptr;
  }
  if (buffers_ != nullptr) {
    munmap(buffers_, buffers_bytes_);
    buffers_ = nullptr;
  }
  pending_ = 0;
}

int BufferRing::Init(io_uring* ring, uint16_t group_id, uint32_t count, uint32_t buffer_size) {
  if (count == 0 || count > 32768 || (count & (count - 1)) != 0) return -EINVAL;
  ring_ = ring;
  group_id_ = group_id;
  count_ = count;
  buffer_size_ = buffer_size;
  stride_ = (buffer_size + kPadding + 63) & ~size_t{63};

  ring_bytes_ = count * sizeof(io_uring_buf);
  void* ring_memory =
      mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (ring_memory == MAP_FAILED) return -errno;
  ring_memory_ = static_cast<io_uring_buf_ring*>(ring_memory);

  // Populated up front: the kernel cycles through every buffer anyway, and faulting pages in at
  // start keeps page faults off the receive path (and makes this fixed per-shard cost visible
  // at start rather than spread over the first connections).
  buffers_bytes_ = count * stride_;
  void* buffers = mmap(nullptr, buffers_bytes_, PROT_READ | PROT_WRITE,
                       MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0);
  if (buffers == MAP_FAILED) return -errno;
  buffers_ = static_cast<uint8_t*>(buffers);

  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(ring_memory_);
  reg.ring_entries = count;
  reg.bgid = group_id;
  int rc = io_uring_register_buf_ring(ring, &reg, 0);
  if (rc < 0) {
    munmap(ring_memory_, ring_bytes_);
    ring_memory_ = nullptr;
    return rc;
  }
  io_uring_buf_ring_init(ring_memory_);
  for (uint32_t id = 0; id < count; ++id) Recycle(static_cast<uint16_t>(id));
  Commit();
  return 0;
}

void BufferRing::Recycle(uint16_t buffer_id) {
  io_uring_buf_ring_add(ring_memory_, Buffer(buffer_id), buffer_size_, buffer_id,
                        io_uring_buf_ring_mask(count_), pending_++);
}

void BufferRing::Commit() {
  if (pending_ == 0) return;
  io_uring_buf_ring_advance(ring_memory_, pending_);
  pending_ = 0;
}

}  // namespace ringcast
