#include "core/net/send_queue.h"

#include <cstdlib>
#include <new>

#include "core/log.h"

namespace ringcast {

void SendQueue::Push(SharedFrame* frame) {
  if (block_ == nullptr || block_->count == block_->capacity) Grow();
  block_->At(block_->count) = frame;
  ++block_->count;
  block_->bytes += frame->size();
}

void SendQueue::PushMessage(ws::Opcode opcode, std::span<const uint8_t> payload,
                            const uint8_t* unmask_key, bool compressed) {
  size_t need = ws::HeaderSize(payload.size(), false) + payload.size();
  if (block_ != nullptr && block_->count > block_->in_flight) {
    // The tail is ours alone and no send has taken it yet.
    SharedFrame* tail = block_->At(block_->count - 1);
    if (tail->is_cork() && tail->AppendMessage(opcode, payload, unmask_key, compressed)) {
      block_->bytes += need;
      return;
    }
  }
  SharedFrame* cork = SharedFrame::AllocateCork(need > kCorkBytes ? need : kCorkBytes);
  cork->AppendMessage(opcode, payload, unmask_key, compressed);
  Push(cork);
}

void SendQueue::Grow() {
  uint32_t capacity = block_ == nullptr ? 4 : block_->capacity * 2;
  auto* grown = static_cast<Block*>(std::malloc(sizeof(Block) + capacity * sizeof(SharedFrame*)));
  if (grown == nullptr) throw std::bad_alloc();
  *grown = block_ == nullptr ? Block{} : *block_;
  grown->capacity = capacity;
  grown->head = 0;
  for (uint32_t i = 0; i < grown->count; ++i) grown->items[i] = block_->At(i);
  std::free(block_);
  block_ = grown;
}

uint32_t SendQueue::BeginSend(iovec* iov, uint32_t max) {
  if (block_ == nullptr) return 0;
  uint32_t n = block_->count < max ? block_->count : max;
  block_->in_flight = n;
  for (uint32_t i = 0; i < n; ++i) {
    SharedFrame* frame = block_->At(i);
    uint32_t skip = i == 0 ? block_->head_offset : 0;
    iov[i].iov_base = const_cast<uint8_t*>(frame->data() + skip);
    iov[i].iov_len = frame->size() - skip;
  }
  return n;
}

void SendQueue::Consume(uint64_t sent) {
  if (block_ == nullptr) {
    CHECK(sent == 0);
    return;
  }
  CHECK(sent <= block_->bytes);
  block_->in_flight = 0;
  block_->bytes -= sent;
  while (sent > 0) {
    SharedFrame* frame = block_->At(0);
    uint64_t left = frame->size() - block_->head_offset;
    if (sent < left) {
      block_->head_offset += static_cast<uint32_t>(sent);
      return;
    }
    sent -= left;
    frame->Release();
    block_->head = (block_->head + 1) & (block_->capacity - 1);
    --block_->count;
    block_->head_offset = 0;
  }
  if (block_->count == 0) Clear();
}

void SendQueue::DropUnstarted() {
  if (block_ == nullptr) return;
  uint32_t keep = block_->in_flight > 0 ? block_->in_flight : block_->head_offset > 0 ? 1 : 0;
  while (block_->count > keep) {
    SharedFrame* frame = block_->At(block_->count - 1);
    block_->bytes -= frame->size();
    frame->Release();
    --block_->count;
  }
  if (block_->count == 0) Clear();
}

void SendQueue::Clear() {
  if (block_ == nullptr) return;
  for (uint32_t i = 0; i < block_->count; ++i) block_->At(i)->Release();
  std::free(block_);
  block_ = nullptr;
}

}  // namespace ringcast
