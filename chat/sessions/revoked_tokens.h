// The revoked token ids one shard knows (logouts, and the family ids of ended logins; replicated
// to every shard), forgotten once their
// token has been expired long enough to fail its own check: the set is bounded by the tokens
// revoked within --token-ttl plus an hour, not by every logout since the start.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "core/runtime/clock.h"

namespace ringcast::chat {

class RevokedTokens {
 public:
  // How often Sweep forgets (monotonic ms between two passes).
  static constexpr int64_t kSweepEveryMs = 60 * 1000;
  // An id is kept this long past its token's exp (wall clock): a wall clock that steps back by
  // less does not bring a revoked token back to life.
  static constexpr int64_t kKeepPastExpiryMs = 3600 * 1000;

  explicit RevokedTokens(const Clock& clock)
      : clock_(clock), next_sweep_ms_(clock.MonotonicMs() + kSweepEveryMs) {}

  // `exp_ms`: the token's exp (wall clock). True when the id was not known yet.
  bool Add(const std::string& jti, int64_t exp_ms) { return by_jti_.emplace(jti, exp_ms).second; }
  // Whether `jti` is refused: itself revoked, or its login (the family, "<family>.<random>":
  // chat/ops/login_routes.cc) ended by a password change, a revoked session or a deleted
  // account, which revoke the family id itself.
  bool Contains(const std::string& jti) const {
    if (by_jti_.contains(jti)) return true;
    const size_t dot = jti.find('.');
    return dot != std::string::npos && by_jti_.contains(jti.substr(0, dot));
  }
  // Whether revoking `id` (a token id or a family id) refuses `jti`.
  static bool Covers(const std::string& id, const std::string& jti) {
    return jti == id || (jti.size() > id.size() && jti[id.size()] == '.' && jti.starts_with(id));
  }
  size_t size() const { return by_jti_.size(); }

  // Called often (the shard's sweep): once per kSweepEveryMs, forgets the ids whose token
  // expired more than kKeepPastExpiryMs ago.
  void Sweep() {
    const int64_t now_ms = clock_.MonotonicMs();
    if (now_ms < next_sweep_ms_) return;
    next_sweep_ms_ = now_ms + kSweepEveryMs;
    const int64_t wall_ms = clock_.WallMs();
    std::erase_if(by_jti_, [wall_ms](const auto& entry) {
      return wall_ms - entry.second > kKeepPastExpiryMs;
    });
  }

 private:
  const Clock& clock_;
  std::unordered_map<std::string, int64_t> by_jti_;  // Token id → its exp (wall-clock ms).
  int64_t next_sweep_ms_;                            // Monotonic.
};

}  // namespace ringcast::chat
