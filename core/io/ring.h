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

// What the kernel offers, probed once per ring at setup (IORING_REGISTER_PROBE, 5.6, for the
// opcodes; io_uring_params.features for the rest). Required() names what ringcast cannot run
// without; the rest select a code path.
struct RingFeatures {
  bool single_issuer = false;  // Setup flags, 6.0 / 6.1 / 5.19: fallback flag by flag.
  bool defer_taskrun = false;
  bool coop_taskrun = false;
  // Opcodes used.
  bool accept = false;        // IORING_OP_ACCEPT, 5.5.
  bool recv = false;          // IORING_OP_RECV, 5.6.
  bool send = false;          // IORING_OP_SEND, 5.6.
  bool sendmsg = false;       // IORING_OP_SENDMSG, 5.3.
  bool close = false;         // IORING_OP_CLOSE, 5.6 (direct descriptors: 5.15).
  bool shutdown = false;      // IORING_OP_SHUTDOWN, 5.11.
  bool async_cancel = false;  // IORING_OP_ASYNC_CANCEL, 5.5.
  bool msg_ring = false;      // IORING_OP_MSG_RING, 5.18: cross-shard wakeups.
  bool send_zc = false;       // IORING_OP_SEND_ZC, 6.0 (not used; see architecture.md).
  // Ring features.
  bool cqe_skip = false;  // IORING_FEAT_CQE_SKIP (IOSQE_CQE_SKIP_SUCCESS), 5.17.
  bool nodrop = false;    // IORING_FEAT_NODROP, 5.5: completions are never lost on overflow.
  // No probe bit exists for these; SEND_ZC (6.0) arrived together with multishot recv and
  // after multishot / direct-alloc accept and provided buffer rings (5.19), so it stands in.
  bool multishot_accept = false;  // 5.19
  bool recv_multishot = false;    // 6.0
  bool direct_accept = false;     // Accept into the fixed file table, FILE_INDEX_ALLOC, 5.19.

  std::string Describe() const;
  // The missing features ringcast needs, space separated; empty when it can run.
  std::string Missing() const;
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
