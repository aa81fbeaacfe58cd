// Ring: one io_uring instance, created on and used by exactly one shard thread.
//
// Setup asks for IORING_SETUP_SINGLE_ISSUER (6.0) | DEFER_TASKRUN (6.1) | COOP_TASKRUN (5.19)
// and falls back flag by flag when the kernel refuses, recording what it got. With
// DEFER_TASKRUN completions are only posted when the owning thread waits in io_uring_enter,
// so the shard loop always reaps after submit_and_wait, never by peeking alone.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <string>

namespace ringcast {

struct RingFeatures {
  bool single_issuer = false;
  bool defer_taskrun = false;
  bool coop_taskrun = false;
  bool msg_ring = false;          // IORING_OP_MSG_RING, 5.18: cross-shard wakeups.
  bool multishot_accept = false;  // 5.19
  bool recv_multishot = false;    // 6.0
  bool send_zc = false;           // 6.0
  bool direct_accept = false;     // Accept into the fixed file table with FILE_INDEX_ALLOC, 5.19.

  std::string Describe() const;
};

class Ring {
 public:
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() { Reset(); }

  // Returns 0 or -errno. Must run on the thread that will submit.
  int Init(unsigned entries);
  // Tears the ring down (after any BufferRing registered on it). Safe to repeat.
  void Reset();

  // Never null: when the submission queue is full it submits what is queued first.
  io_uring_sqe* GetSqe();

  io_uring* raw() { return &ring_; }
  int fd() const { return ring_.ring_fd; }
  const RingFeatures& features() const { return features_; }

 private:
  void Probe();

  io_uring ring_{};
  bool initialized_ = false;
  RingFeatures features_;
};

}  // namespace ringcast
