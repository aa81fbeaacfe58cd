// SharedFrame: one encoded WebSocket frame (or any outgoing bytes), immutable once built,
// reference-counted across shards.
//
// Fan-out encodes a message once into a SharedFrame and queues the same bytes on every
// recipient's connection, on every shard; each queue holds one reference, and the frame frees
// itself when the last send that uses it completes. The count is atomic because the last
// reference may drop on any shard; a fan-out takes all of a shard's references in one
// AddRefs(n) rather than one atomic operation per recipient.
//
// permessage-deflate (RFC 7692): a data frame may also hold its compressed forms, one per
// deflater window (core/net/ws_compression.h), built by the first shard that needs one for a
// recipient, installed with a compare-exchange (a shard that loses the race frees its own and
// takes the winner's), and freed with the frame. So a message fanned out to thousands of
// deflate clients is compressed once per window size, not once per recipient.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "proto/ws_frame.h"

namespace ringcast {

class SharedFrame {
 public:
  // A frame with header + payload, FIN set, unmasked (server to client). Refcount 1.
  // `compressed`: the payload is DEFLATE data and RSV1 is set (RFC 7692 §6).
  static SharedFrame* EncodeMessage(ws::Opcode opcode, std::span<const uint8_t> payload,
                                    bool compressed = false);
  static SharedFrame* EncodeClose(uint16_t code, std::string_view reason);
  // Raw bytes (HTTP responses). Refcount 1.
  static SharedFrame* Copy(std::string_view bytes);
  // Raw bytes written in place: `fill(out, capacity)` writes at most `capacity` bytes at `out`
  // and returns how many (a response read straight from a file, without a copy). It must not
  // throw. Refcount 1; any thread (nothing is shared yet).
  template <typename Fill>
  static SharedFrame* Build(size_t capacity, Fill&& fill) {
    SharedFrame* frame = Allocate(capacity);
    const size_t written = fill(frame->data_, capacity);
    frame->size_ = static_cast<uint32_t>(written < capacity ? written : capacity);
    return frame;
  }

  // A cork buffer for one connection's unicast messages: empty, with room for `capacity` bytes,
  // filled by AppendMessage while its single owner (a SendQueue) has not shared it. Messages to
  // one recipient then cost no allocation each and go out as one contiguous send.
  static SharedFrame* AllocateCork(size_t capacity);
  bool is_cork() const { return capacity_ != 0; }
  // Appends an encoded message; false (nothing written) when it does not fit. With `unmask_key`
  // the payload is still masked with that key and is unmasked as it is copied. `compressed`:
  // as for EncodeMessage.
  bool AppendMessage(ws::Opcode opcode, std::span<const uint8_t> payload,
                     const uint8_t* unmask_key = nullptr, bool compressed = false);

  // --- Compressed forms (permessage-deflate) ---------------------------------------------------
  // The form installed for `tag` (the deflater's window bits), or nullptr when none is yet. Any
  // thread holding a reference. A form of size 0 says "not smaller compressed: send this frame".
  SharedFrame* FindForm(uint8_t tag) const;
  // Installs `form` (refcount 1, taken over: released when this frame is freed) for `tag`,
  // unless another thread installed one for `tag` first: `form` is then freed and that one
  // returned. Lock-free: a compare-exchange on the last link of the frame's chain of forms.
  SharedFrame* InstallForm(SharedFrame* form, uint8_t tag);
  // An empty form, for InstallForm: the message does not compress.
  static SharedFrame* NoSmallerForm() { return Allocate(0); }

  void AddRefs(uint32_t n) { refs_.fetch_add(n, std::memory_order_relaxed); }
  void Release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) Free(this);
  }

  // A word the producer may set before sharing the frame, read by whoever a mail hands the frame
  // to; the engine never reads it. The chat stores the low 32 bits of the owner's publish time
  // in µs, so that its delivery mail needs no more words (chat/owners/delivery_mail.h).
  void set_stamp(uint32_t stamp) { stamp_ = stamp; }
  uint32_t stamp() const { return stamp_; }

  const uint8_t* data() const { return data_; }
  uint32_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }

 private:
  static SharedFrame* Allocate(size_t size);
  static void Free(SharedFrame* frame);
  SharedFrame() = default;

  std::atomic<uint32_t> refs_{1};
  uint32_t size_ = 0;
  uint32_t capacity_ = 0;  // Non-zero only for a cork, which may still grow up to it.
  uint32_t stamp_ = 0;
  // The chain of compressed forms: this frame's first, each form's the next one. Each link
  // holds one reference on the form it points to. Null for almost every frame.
  std::atomic<SharedFrame*> next_form_{nullptr};
  uint8_t form_tag_ = 0;  // A form's tag (InstallForm); 0 on a frame that is not a form.
  // The header is 32 bytes: the bytes stay 16-byte aligned.
  alignas(16) uint8_t data_[];  // NOLINT: flexible array member, sized at allocation.
};

}  // namespace ringcast
