#include "chat/sessions/rate_limit.h"

#include <algorithm>

namespace ringcast::chat {

TokenBucket::TokenBucket(double rate, double capacity, int64_t now_ms)
    : rate_per_ms_(rate / 1000), capacity_(capacity), tokens_(capacity), refilled_ms_(now_ms) {}

bool TokenBucket::TryTake(int64_t now_ms) {
  if (now_ms > refilled_ms_) {
    tokens_ = std::min(capacity_, tokens_ + double(now_ms - refilled_ms_) * rate_per_ms_);
    refilled_ms_ = now_ms;
  }
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

LoginLimiter::LoginLimiter(int64_t window_ms, size_t max_keys, int64_t now_ms)
    : window_ms_(window_ms), max_keys_(max_keys), window_start_ms_(now_ms) {}

void LoginLimiter::Expire(int64_t now_ms) {
  if (now_ms - window_start_ms_ < window_ms_) return;
  window_start_ms_ = now_ms;
  // A fresh table: clear() would keep the bucket array a burst of keys grew.
  std::unordered_map<std::string, Entry>().swap(attempts_);
}

int64_t LoginLimiter::SecondsLeft(int64_t now_ms) const {
  int64_t left_ms = std::max<int64_t>(0, window_start_ms_ + window_ms_ - now_ms);
  return std::max<int64_t>(1, (left_ms + 999) / 1000);
}

int64_t LoginLimiter::Count(std::string_view key, uint32_t limit, int64_t now_ms) {
  Expire(now_ms);
  auto it = attempts_.find(std::string(key));
  if (it == attempts_.end()) {
    if (attempts_.size() >= max_keys_) return SecondsLeft(now_ms);
    it = attempts_.emplace(std::string(key), Entry{}).first;
  }
  it->second.last_ms = now_ms;
  if (++it->second.count <= limit) return 0;
  return SecondsLeft(now_ms);
}

int64_t LoginLimiter::Check(std::string_view key, const AttemptRule& rule, int64_t now_ms) {
  Expire(now_ms);
  auto it = attempts_.find(std::string(key));
  if (it == attempts_.end()) return attempts_.size() >= max_keys_ ? SecondsLeft(now_ms) : 0;
  const Entry& entry = it->second;
  if (entry.count >= rule.limit) return SecondsLeft(now_ms);
  if (rule.backoff_after > 0 && entry.count >= rule.backoff_after) {
    const uint32_t doublings = std::min<uint32_t>(entry.count - rule.backoff_after, 30);
    const int64_t delay_ms =
        std::min<int64_t>(int64_t{rule.backoff_max_s} * 1000, int64_t{1000} << doublings);
    const int64_t wait_ms = entry.last_ms + delay_ms - now_ms;
    if (wait_ms > 0) return (wait_ms + 999) / 1000;
  }
  return 0;
}

void LoginLimiter::Fail(std::string_view key, int64_t now_ms) {
  Expire(now_ms);
  auto it = attempts_.find(std::string(key));
  if (it == attempts_.end()) {
    if (attempts_.size() >= max_keys_) return;
    it = attempts_.emplace(std::string(key), Entry{}).first;
  }
  ++it->second.count;
  it->second.last_ms = now_ms;
}

bool ConnectionsPerAddress::TryAdd(const std::string& address, uint32_t limit) {
  uint32_t& count = counts_[address];
  if (count >= limit) {
    if (count == 0) counts_.erase(address);  // limit 0: keep no empty entry.
    return false;
  }
  ++count;
  return true;
}

void ConnectionsPerAddress::Remove(const std::string& address) {
  auto it = counts_.find(address);
  if (it == counts_.end()) return;
  if (--it->second == 0) counts_.erase(it);
}

}  // namespace ringcast::chat
