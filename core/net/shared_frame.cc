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

static_assert(sizeof(SharedFrame) == 32, "the payload should start 16-byte aligned");

void SharedFrame::Free(SharedFrame* frame) {
  // The last reference is gone, so the chain is no longer changing (installs need one).
  SharedFrame* next = frame->next_form_.load(std::memory_order_acquire);
  frame->~SharedFrame();
  std::free(frame);
  if (next != nullptr) next->Release();  // At most one form per window size: a short chain.
}

SharedFrame* SharedFrame::FindForm(uint8_t tag) const {
  for (SharedFrame* form = next_form_.load(std::memory_order_acquire); form != nullptr;
       form = form->next_form_.load(std::memory_order_acquire)) {
    if (form->form_tag_ == tag) return form;
  }
  return nullptr;
}

SharedFrame* SharedFrame::InstallForm(SharedFrame* form, uint8_t tag) {
  form->form_tag_ = tag;
  std::atomic<SharedFrame*>* link = &next_form_;
  for (;;) {
    SharedFrame* seen = nullptr;
    // Release: a shard that finds the form sees its bytes and tag.
    if (link->compare_exchange_strong(seen, form, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
      return form;
    }
    if (seen->form_tag_ == tag) {  // Another shard built the same form first.
      form->Release();
      return seen;
    }
    link = &seen->next_form_;
  }
}

SharedFrame* SharedFrame::EncodeMessage(ws::Opcode opcode, std::span<const uint8_t> payload,
                                        bool compressed) {
  SharedFrame* frame = Allocate(ws::HeaderSize(payload.size(), false) + payload.size());
  size_t header = ws::EncodeHeader(frame->data_, opcode, true, payload.size(), nullptr, compressed);
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
                                const uint8_t* unmask_key, bool compressed) {
  size_t need = ws::HeaderSize(payload.size(), false) + payload.size();
  if (need > capacity_ - size_) return false;
  uint8_t* out = data_ + size_;
  size_t header = ws::EncodeHeader(out, opcode, true, payload.size(), nullptr, compressed);
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
