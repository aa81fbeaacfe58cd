#include "core/net/ws_compression.h"

namespace ringcast {

uint8_t* WsCompression::Reserve(std::unique_ptr<uint8_t[]>& buffer, size_t& capacity, size_t size) {
  // Grown for a large message, then shrunk back for the next small one: a shard does not keep
  // the largest message it ever compressed.
  if (capacity < size || (capacity > kKeepBuffer && size <= kKeepBuffer)) {
    const size_t wanted = size <= kKeepBuffer ? kKeepBuffer : size;
    buffer.reset(new uint8_t[wanted]);  // Not zeroed: always written before it is read.
    capacity = wanted;
  }
  return buffer.get();
}

ws::Deflater& WsCompression::DeflaterFor(int window_bits) {
  std::unique_ptr<ws::Deflater>& deflater = deflaters_[window_bits - 9];
  if (!deflater) {
    deflater = std::make_unique<ws::Deflater>(window_bits, int(options_.ws_deflate_level));
  }
  return *deflater;
}

size_t WsCompression::CompressToScratch(std::span<const uint8_t> payload, int window_bits) {
  uint8_t* out = Reserve(scratch_, scratch_capacity_, payload.size() + 4);
  const size_t size = DeflaterFor(window_bits).Compress(payload, out, payload.size());
  if (size == 0) {
    ++stats_.deflate_incompressible;
    return 0;
  }
  ++stats_.deflate_compressed;
  stats_.deflate_out_raw_bytes += payload.size();
  stats_.deflate_out_bytes += size;
  return size;
}

SharedFrame* WsCompression::FormFor(SharedFrame* frame, int window_bits) {
  const std::span<const uint8_t> bytes = frame->bytes();
  if (bytes.size() < 2 + size_t{options_.ws_deflate_min_size}) return frame;
  // One whole data message: FIN, no RSV bit, text or binary, and a header that covers exactly
  // the frame (a frame holding something else, or several, goes as it is).
  const uint8_t b0 = bytes[0];
  const auto opcode = static_cast<ws::Opcode>(b0 & 0x0F);
  if ((b0 & 0xF0) != 0x80 || (opcode != ws::Opcode::kText && opcode != ws::Opcode::kBinary)) {
    return frame;
  }
  ws::FrameHeader header;
  if (ws::ParseFrameHeader(bytes, &header).status != ws::HeaderStatus::kOk || header.masked ||
      header.header_size + header.payload_size != bytes.size() ||
      header.payload_size < options_.ws_deflate_min_size) {
    return frame;
  }
  const int bits = ws::DeflaterWindowBits(window_bits);
  SharedFrame* form = frame->FindForm(static_cast<uint8_t>(bits));
  if (form == nullptr) {
    const size_t size = CompressToScratch(bytes.subspan(header.header_size), bits);
    SharedFrame* made = size == 0 ? SharedFrame::NoSmallerForm()
                                  : SharedFrame::EncodeMessage(opcode, {scratch_.get(), size},
                                                               /*compressed=*/true);
    form = frame->InstallForm(made, static_cast<uint8_t>(bits));
  }
  if (form->size() == 0) return frame;
  ++stats_.deflate_deliveries;
  form->AddRefs(1);
  frame->Release();
  return form;
}

std::span<const uint8_t> WsCompression::Compress(ws::Opcode opcode,
                                                 std::span<const uint8_t> payload,
                                                 const uint8_t* unmask_key, int window_bits) {
  if (ws::IsControl(opcode) || payload.size() < options_.ws_deflate_min_size) return {};
  if (unmask_key != nullptr) {
    uint8_t* plain = Reserve(unmasked_, unmasked_capacity_, payload.size());
    ws::CopyMasked(plain, payload.data(), payload.size(), unmask_key);
    payload = {plain, payload.size()};
  }
  const size_t size = CompressToScratch(payload, ws::DeflaterWindowBits(window_bits));
  if (size == 0) return {};
  ++stats_.deflate_deliveries;
  return {scratch_.get(), size};
}

ws::InflateStatus WsCompression::Inflate(std::span<const uint8_t> payload, size_t limit) {
  const ws::InflateStatus status = inflater_.Inflate(payload, limit);
  if (status == ws::InflateStatus::kOk) {
    ++stats_.deflate_inflated;
    stats_.deflate_in_bytes += payload.size();
    stats_.deflate_in_raw_bytes += inflater_.output().size();
  } else if (status == ws::InflateStatus::kTooBig) {
    ++stats_.deflate_too_big;
    stats_.deflate_too_big_raw_bytes += inflater_.output().size();  // The work it cost.
  }
  return status;
}

}  // namespace ringcast
