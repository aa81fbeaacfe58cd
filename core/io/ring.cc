#include "core/io/ring.h"

#include <cerrno>

#include "core/log.h"

namespace ringcast {

namespace {

// Every feature with its name, in the order logged; `required`: no fallback exists.
template <typename Visit>
void ForEachFeature(const RingFeatures& f, Visit visit) {
  visit(f.single_issuer, "single_issuer", false);
  visit(f.defer_taskrun, "defer_taskrun", false);
  visit(f.coop_taskrun, "coop_taskrun", false);
  visit(f.accept, "accept", true);
  visit(f.multishot_accept, "multishot_accept", true);
  visit(f.direct_accept, "direct_accept", false);
  visit(f.recv, "recv", true);
  visit(f.recv_multishot, "recv_multishot", true);
  visit(f.send, "send", true);
  visit(f.sendmsg, "sendmsg", true);
  visit(f.close, "close", true);
  visit(f.shutdown, "shutdown", true);
  visit(f.async_cancel, "async_cancel", true);
  visit(f.msg_ring, "msg_ring", true);
  visit(f.cqe_skip, "cqe_skip", true);
  visit(f.nodrop, "nodrop", false);
  visit(f.send_zc, "send_zc", false);
}

}  // namespace

std::string RingFeatures::Describe() const {
  std::string out;
  ForEachFeature(*this, [&out](bool on, const char* name, bool) {
    out += out.empty() ? "" : " ";
    out += on ? "+" : "-";
    out += name;
  });
  return out;
}

std::string RingFeatures::Missing() const {
  std::string out;
  ForEachFeature(*this, [&out](bool on, const char* name, bool required) {
    if (on || !required) return;
    out += out.empty() ? "" : " ";
    out += name;
  });
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
      features_.cqe_skip = params.features & IORING_FEAT_CQE_SKIP;
      features_.nodrop = params.features & IORING_FEAT_NODROP;
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
  // liburing 2.3 sizes the probe for 256 opcodes, so newer ones than it knows are reported too.
  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  if (probe == nullptr) return;  // Before 5.6: Missing() then names everything.
  auto has = [probe](int op) { return io_uring_opcode_supported(probe, op); };
  features_.accept = has(IORING_OP_ACCEPT);
  features_.recv = has(IORING_OP_RECV);
  features_.send = has(IORING_OP_SEND);
  features_.sendmsg = has(IORING_OP_SENDMSG);
  features_.close = has(IORING_OP_CLOSE);
  features_.shutdown = has(IORING_OP_SHUTDOWN);
  features_.async_cancel = has(IORING_OP_ASYNC_CANCEL);
  features_.msg_ring = has(IORING_OP_MSG_RING);
  features_.send_zc = has(IORING_OP_SEND_ZC);
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
