// The requests a chat connection sends before its `hello`, kept to be answered after it, in
// order. Bounded by count and by bytes (proto/PROTOCOL.md): a client cannot make the server hold
// 256 requests of --max-message-size each while its session starts. One request is always
// accepted when none is held, whatever its size (the message size limit bounds it).
// Owner: the session's shard.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <utility>

namespace ringcast::chat {

class EarlyRequests {
 public:
  static constexpr size_t kMaxRequests = 256;
  static constexpr size_t kMaxBytes = 1 << 20;

  // Keeps `text`; false (nothing kept) when that would pass either bound.
  bool Push(std::string_view text) {
    if (requests_.size() >= kMaxRequests) return false;
    if (!requests_.empty() && bytes_ + text.size() > kMaxBytes) return false;
    requests_.emplace_back(text);
    bytes_ += text.size();
    return true;
  }
  // Everything held, oldest first; leaves this empty.
  std::deque<std::string> Take() {
    bytes_ = 0;
    return std::exchange(requests_, {});
  }
  size_t bytes() const { return bytes_; }

 private:
  std::deque<std::string> requests_;
  size_t bytes_ = 0;
};

}  // namespace ringcast::chat
