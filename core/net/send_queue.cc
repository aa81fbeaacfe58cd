#include "core/net/send_queue.h"

#include <cstdlib>
#include <new>

#include "core/log.h"

namespace ringcast {

void SendQueue::Push(SharedFrame* frame) {
  if (count_ == capacity_) Grow();
  At(count_) = frame;
  ++count_;
  bytes_ += frame->size();
}

void SendQueue::Grow() {
  uint32_t capacity = capacity_ == 0 ? 4 : capacity_ * 2;
  auto* items = static_cast<SharedFrame**>(std::malloc(capacity * sizeof(SharedFrame*)));
  if (items == nullptr) throw std::bad_alloc();
  for (uint32_t i = 0; i < count_; ++i) items[i] = At(i);
  std::free(items_);
  items_ = items;
  capacity_ = capacity;
  head_ = 0;
}

uint32_t SendQueue::BeginSend(iovec* iov, uint32_t max) {
  uint32_t n = count_ < max ? count_ : max;
  in_flight_ = n;
  for (uint32_t i = 0; i < n; ++i) {
    const SharedFrame* frame = At(i);
    uint32_t skip = i == 0 ? head_offset_ : 0;
    iov[i].iov_base = const_cast<uint8_t*>(frame->data() + skip);
    iov[i].iov_len = frame->size() - skip;
  }
  return n;
}

void SendQueue::Consume(uint64_t sent) {
  CHECK(sent <= bytes_);
  in_flight_ = 0;
  bytes_ -= sent;
  while (sent > 0) {
    SharedFrame* frame = At(0);
    uint64_t left = frame->size() - head_offset_;
    if (sent < left) {
      head_offset_ += static_cast<uint32_t>(sent);
      return;
    }
    sent -= left;
    frame->Release();
    head_ = (head_ + 1) & (capacity_ - 1);
    --count_;
    head_offset_ = 0;
  }
  if (count_ == 0) Clear();
}

void SendQueue::DropUnstarted() {
  uint32_t keep = in_flight_ > 0 ? in_flight_ : head_offset_ > 0 ? 1 : 0;
  while (count_ > keep) {
    SharedFrame* frame = At(count_ - 1);
    bytes_ -= frame->size();
    frame->Release();
    --count_;
  }
  if (count_ == 0) Clear();
}

void SendQueue::Clear() {
  for (uint32_t i = 0; i < count_; ++i) At(i)->Release();
  std::free(items_);
  items_ = nullptr;
  capacity_ = head_ = count_ = head_offset_ = in_flight_ = 0;
  bytes_ = 0;
}

}  // namespace ringcast
