#include "storage/wait_bound.h"

#include <cmath>

namespace ringcast::storage {

bool WaitBound::Admit(uint64_t ahead, std::chrono::steady_clock::duration oldest) {
  if (limit_s_ <= 0 || ahead < min_depth_) return true;
  const bool late = std::chrono::duration<double>(oldest).count() > limit_s_;
  if (!late && EstimateSeconds(ahead) <= kHeadroom * limit_s_) return true;
  refused_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void WaitBound::NoteBacklog(uint64_t jobs, double seconds) {
  if (jobs == 0 || seconds <= 0) return;
  const double decay = std::exp(-seconds / tau_s_);
  jobs_ = jobs_ * decay + double(jobs);
  seconds_ = seconds_ * decay + seconds;
  rate_.store(jobs_ / seconds_, std::memory_order_relaxed);
}

double WaitBound::EstimateSeconds(uint64_t ahead) const {
  const double rate = rate_.load(std::memory_order_relaxed);
  return rate > 0 ? double(ahead) / rate : 0;
}

}  // namespace ringcast::storage
