#include "core/net/shared_frame.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/log.h"

namespace ringcast {

SharedFrame* SharedFrame::Allocate(size_t size) {
  CHECK(size <= UINT32_MAX);
  void* memory = std::malloc(sizeof(SharedFrame) + size);
  if (memory == nullptr) throw std::bad_alloc();
  SharedFrame* frame = new (memory) SharedFrame();
  frame->size_ = static_cast<uint32_t>(size);
  return frame;
}

void SharedFrame::Free(SharedFrame* frame) {
  frame->~SharedFrame();
  std::free(frame);
}

SharedFrame* SharedFrame::EncodeMessage(ws::Opcode opcode, std::span<const uint8_t> payload) {
  SharedFrame* frame = Allocate(ws::HeaderSize(payload.size(), false) + payload.size());
  size_t header = ws::EncodeHeader(frame->data_, opcode, true, payload.size());
  if (!payload.empty()) std::memcpy(frame->data_ + header, payload.data(), payload.size());
  return frame;
}

SharedFrame* SharedFrame::EncodeClose(uint16_t code, std::string_view reason) {
  uint8_t payload[ws::kMaxControlPayload];
  size_t size = ws::EncodeClosePayload(payload, code, reason);
  return EncodeMessage(ws::Opcode::kClose, {payload, size});
}

SharedFrame* SharedFrame::AllocateCork(size_t capacity) {
  SharedFrame* frame = Allocate(capacity);
  frame->size_ = 0;
  frame->capacity_ = static_cast<uint32_t>(capacity);
  return frame;
}

bool SharedFrame::AppendMessage(ws::Opcode opcode, std::span<const uint8_t> payload,
                                const uint8_t* unmask_key) {
  size_t need = ws::HeaderSize(payload.size(), false) + payload.size();
  if (need > capacity_ - size_) return false;
  uint8_t* out = data_ + size_;
  size_t header = ws::EncodeHeader(out, opcode, true, payload.size());
  if (unmask_key != nullptr) {
    ws::CopyMasked(out + header, payload.data(), payload.size(), unmask_key);
  } else if (!payload.empty()) {
    std::memcpy(out + header, payload.data(), payload.size());
  }
  size_ += static_cast<uint32_t>(need);
  return true;
}

SharedFrame* SharedFrame::Copy(std::string_view bytes) {
  SharedFrame* frame = Allocate(bytes.size());
  std::memcpy(frame->data_, bytes.data(), bytes.size());
  return frame;
}

}  // namespace ringcast
