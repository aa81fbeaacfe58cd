// AttemptCounter: logins and registrations counted over the whole service (chat/README.md,
// "Login attempts"), so that the limits hold whichever shard or node a request reaches. In
// cluster mode a key is counted in Redis for every node; without Redis, or when it does not
// answer, on the shard that owns the key's hash (its LoginLimiter), by mail.
//
// Owner: its shard's thread (one per ChatShard). Every answer comes back to the asking shard as
// mail: `then(chat, retry_after_s)`, 0 = go.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chat/sessions/rate_limit.h"
#include "storage/unique_function.h"

namespace ringcast {
class Shard;
}

namespace ringcast::chat {

class ChatService;
class ChatShard;

class AttemptCounter {
 public:
  // Attempts are counted per minute.
  static constexpr int64_t kWindowMs = 60 * 1000;

  // `chat` is the shard it serves, whose counter it is.
  AttemptCounter(ChatShard& chat, Shard& shard, ChatService& service);

  using Then = storage::UniqueFunction<void(ChatShard&, int64_t)>;

  // Counts an attempt (a registration: "register:ip:ADDRESS") under `limit` a window.
  void Count(std::string key, uint32_t limit, Then then);

  // A login's keys (the address, the username from that address, the username) and the rule of
  // each: only failures count (Fail), and Check refuses while any is over its rule.
  struct Key {
    std::string key;
    AttemptRule rule;
  };
  // Checks `keys` in order, stopping at the first refusal.
  void Check(std::vector<Key> keys, Then then) { CheckFrom(std::move(keys), 0, std::move(then)); }
  // Counts a failure of each of `keys`.
  void Fail(std::vector<Key> keys);

  // Once a second: a new window when the current one has ended.
  void Sweep(int64_t now_ms) { limiter_.Expire(now_ms); }

 private:
  void CountHere(std::string key, uint32_t limit, Then then);
  void CheckFrom(std::vector<Key> keys, size_t next, Then then);
  void CheckHere(std::vector<Key> keys, size_t next, Then then);
  void FailHere(const std::string& key);
  uint32_t OwnerOf(const std::string& key) const;

  ChatShard& chat_;
  Shard& shard_;
  ChatService& service_;
  LoginLimiter limiter_;  // For the keys whose hash this shard owns.
};

}  // namespace ringcast::chat
