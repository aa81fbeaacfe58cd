// Helpers for the chat's fan-out mail: a SharedFrame reference carried by a task, and a JSON
// event encoded once as a text frame (the conversation and user owners share them).
// Owner: whoever holds the task; any thread (the frame's count is atomic).
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

#include "core/net/shared_frame.h"

namespace ringcast::chat {

// One reference to a SharedFrame, released if the holder is dropped unrun (at shutdown).
class FrameRef {
 public:
  explicit FrameRef(SharedFrame* frame) : frame_(frame) {}
  FrameRef(FrameRef&& other) noexcept : frame_(std::exchange(other.frame_, nullptr)) {}
  FrameRef& operator=(FrameRef&&) = delete;
  ~FrameRef() {
    if (frame_ != nullptr) frame_->Release();
  }
  SharedFrame* Take() { return std::exchange(frame_, nullptr); }

 private:
  SharedFrame* frame_;
};

// `json` as one WebSocket text frame, refcount 1.
inline SharedFrame* EncodeText(std::string_view json) {
  return SharedFrame::EncodeMessage(ws::Opcode::kText,
                                    {reinterpret_cast<const uint8_t*>(json.data()), json.size()});
}

}  // namespace ringcast::chat
