#include "core/io/ring.h"

#include <cerrno>

#include "core/log.h"

namespace ringcast {

std::string RingFeatures::Describe() const {
  std::string out;
  auto add = [&out](bool on, const char* name) {
    out += out.empty() ? "" : " ";
    out += on ? "+" : "-";
    out += name;
  };
  add(single_issuer, "single_issuer");
  add(defer_taskrun, "defer_taskrun");
  add(coop_taskrun, "coop_taskrun");
  add(msg_ring, "msg_ring");
  add(multishot_accept, "multishot_accept");
  add(recv_multishot, "recv_multishot");
  add(direct_accept, "direct_accept");
  add(send_zc, "send_zc");
  return out;
}

void Ring::Reset() {
  if (initialized_) io_uring_queue_exit(&ring_);
  initialized_ = false;
}

int Ring::Init(unsigned entries) {
  // Most to least demanding; the first the kernel accepts wins.
  const unsigned attempts[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN |
          IORING_SETUP_SUBMIT_ALL,
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
      0,
  };
  int rc = -EINVAL;
  for (unsigned flags : attempts) {
    io_uring_params params{};
    // A completion queue 4x the submission queue absorbs bursts of multishot completions.
    params.flags = flags | IORING_SETUP_CQSIZE;
    params.cq_entries = entries * 4;
    rc = io_uring_queue_init_params(entries, &ring_, &params);
    if (rc == 0) {
      features_.single_issuer = flags & IORING_SETUP_SINGLE_ISSUER;
      features_.defer_taskrun = flags & IORING_SETUP_DEFER_TASKRUN;
      features_.coop_taskrun = flags & IORING_SETUP_COOP_TASKRUN;
      break;
    }
    if (rc != -EINVAL) break;  // EPERM / ENOMEM are not about flags.
  }
  if (rc < 0) return rc;
  initialized_ = true;
  Probe();
  return 0;
}

void Ring::Probe() {
  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  if (probe == nullptr) return;
  features_.msg_ring = io_uring_opcode_supported(probe, IORING_OP_MSG_RING);
  features_.send_zc = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
  // No probe bit exists for multishot accept or recv; SEND_ZC (6.0) arrived together with
  // multishot recv and after multishot/direct-alloc accept (5.19), so it stands in for them.
  features_.multishot_accept = features_.send_zc;
  features_.recv_multishot = features_.send_zc;
  features_.direct_accept = features_.send_zc;
  io_uring_free_probe(probe);
}

io_uring_sqe* Ring::GetSqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    int rc = io_uring_submit(&ring_);
    if (rc < 0 && rc != -EAGAIN && rc != -EBUSY) {
      RC_LOG(kError, "io_uring_submit failed: %d", rc);
    }
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

}  // namespace ringcast
