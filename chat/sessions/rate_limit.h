// Rate limits of the chat service: pure bookkeeping over monotonic milliseconds
// (core/runtime/clock.h), so a wall-clock step changes nothing and tests can drive them.
//
// TokenBucket: one per chat session (--msg-rate). LoginLimiter: one per shard, for the login
// keys (username, client address) and registration keys (client address) that hash to that
// shard (chat/README.md, "Login attempts").
// Owner: the shard that holds them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ringcast::chat {

// `rate` tokens per second up to `capacity`; a request takes one.
class TokenBucket {
 public:
  TokenBucket() = default;
  // Starts full at `now_ms`.
  TokenBucket(double rate, double capacity, int64_t now_ms);

  // Takes a token when there is one. A `now_ms` earlier than the previous call (impossible on a
  // monotonic clock, cheap to rule out) refills nothing.
  bool TryTake(int64_t now_ms);
  double tokens() const { return tokens_; }

 private:
  double rate_per_ms_ = 0;
  double capacity_ = 0;
  double tokens_ = 0;
  int64_t refilled_ms_ = 0;
};

// What Check holds a key to: `limit` counted per window; past `backoff_after` (0: never), each
// further attempt waits 1 s after the latest count, then 2, 4... up to `backoff_max_s`.
struct AttemptRule {
  uint32_t limit = 0;
  uint32_t backoff_after = 0;
  uint32_t backoff_max_s = 0;
};

// Attempts per key in fixed windows of `window_ms`: registrations count each attempt (Count),
// logins only their failures (Check before, Fail after a wrong password). Holds at most `max_keys`
// keys between two windows; a key past that counts as over its limit until the window ends (it
// fails closed: a client spraying new keys cannot push out the counts of the keys it targets).
// Everything is forgotten when a window ends, so memory is bounded by `max_keys` times the longest
// key.
class LoginLimiter {
 public:
  LoginLimiter(int64_t window_ms, size_t max_keys, int64_t now_ms);

  // Counts an attempt for `key`: 0 when it is within `limit` attempts this window, else the
  // whole seconds (at least 1) until the window ends.
  int64_t Count(std::string_view key, uint32_t limit, int64_t now_ms);
  // Whether `key` may try now under `rule`, counting nothing: 0, else the whole seconds (at
  // least 1) to wait.
  int64_t Check(std::string_view key, const AttemptRule& rule, int64_t now_ms);
  // Counts one failure of `key` at `now_ms` (nothing when the table is full: Check fails closed).
  void Fail(std::string_view key, int64_t now_ms);
  // Starts a new window (forgetting every key) when the current one has ended.
  void Expire(int64_t now_ms);
  size_t keys() const { return attempts_.size(); }

 private:
  int64_t SecondsLeft(int64_t now_ms) const;

  const int64_t window_ms_;
  const size_t max_keys_;
  int64_t window_start_ms_;
  struct Entry {
    uint32_t count = 0;
    int64_t last_ms = 0;  // The latest count (monotonic).
  };
  std::unordered_map<std::string, Entry> attempts_;
};

// Open chat connections per client address (--max-conns-per-ip), for the addresses that hash to
// this shard, so the count holds over the whole node. Only addresses with a connection have an
// entry: the map is bounded by the node's connections (--max-connections per shard).
class ConnectionsPerAddress {
 public:
  // Counts one more connection for `address`: false (nothing counted) when it has `limit`.
  bool TryAdd(const std::string& address, uint32_t limit);
  // One of `address`'s connections has closed.
  void Remove(const std::string& address);
  size_t addresses() const { return counts_.size(); }

 private:
  std::unordered_map<std::string, uint32_t> counts_;
};

}  // namespace ringcast::chat
