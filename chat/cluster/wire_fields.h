// The text fields of ClusterLink's wire format (chat/cluster/cluster_link.h): shared by its
// encoders and decoders (cluster_wire.cc) and the publications it reads inline (cluster_link.cc).
#pragma once

#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace ringcast::chat::cluster_wire {

// Numbers separated by single spaces, then (after a newline) raw bytes.
class Fields {
 public:
  explicit Fields(std::string_view text) : text_(text) {}

  bool Int(int64_t* out) {
    while (at_ < text_.size() && text_[at_] == ' ') ++at_;
    auto [end, ec] = std::from_chars(text_.data() + at_, text_.data() + text_.size(), *out);
    if (ec != std::errc()) return false;
    at_ = size_t(end - text_.data());
    return true;
  }
  // What is left, unread.
  std::string_view Tail() const { return text_.substr(at_); }
  // The rest after the header line's newline.
  bool Rest(std::string_view* out) {
    size_t newline = text_.find('\n', at_);
    if (newline == std::string_view::npos) return false;
    *out = text_.substr(newline + 1);
    at_ = text_.size();
    return true;
  }

 private:
  std::string_view text_;
  size_t at_ = 0;
};

inline void AppendInts(std::string& out, std::initializer_list<int64_t> values) {
  for (int64_t value : values) {
    out += ' ';
    out += std::to_string(value);
  }
}

}  // namespace ringcast::chat::cluster_wire
