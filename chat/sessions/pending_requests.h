// The requests a chat connection has sent that it is not yet its turn to have handled, kept in
// order: sent before its `hello`, behind a sync or history answer still on its way, or while the
// connection is congested (the client reads slower than its answers come). Bounded by count and
// by bytes (proto/PROTOCOL.md, "Pacing"): a client cannot make the server hold 256 requests of
// --max-message-size each. One request is always accepted when none is held, whatever its size
// (the message size limit bounds it).
// Owner: the session's shard.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>

namespace ringcast::chat {

class PendingRequests {
 public:
  static constexpr size_t kMaxRequests = 256;
  static constexpr size_t kMaxBytes = 4 << 20;

  // Keeps `text`; false (nothing kept) when that would pass either bound.
  bool Push(std::string_view text) {
    if (requests_.size() >= kMaxRequests) return false;
    if (!requests_.empty() && bytes_ + text.size() > kMaxBytes) return false;
    requests_.emplace_back(text);
    bytes_ += text.size();
    return true;
  }
  // The oldest request, removed. Not empty().
  std::string Pop() {
    std::string text = std::move(requests_.front());
    requests_.pop_front();
    bytes_ -= text.size();
    return text;
  }
  bool empty() const { return requests_.empty(); }
  size_t bytes() const { return bytes_; }

 private:
  std::deque<std::string> requests_;
  size_t bytes_ = 0;
};

}  // namespace ringcast::chat
