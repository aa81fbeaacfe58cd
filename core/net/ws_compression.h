// WsCompression: a shard's permessage-deflate work (RFC 7692, --ws-deflate): the deflaters
// (one per window size in use), the inflater, and their scratch buffers.
//
// Owner: the shard's thread (its WsDriver holds it). The server always answers with
// server_no_context_takeover and client_no_context_takeover, so no connection holds zlib state:
// every message is compressed or inflated on its own by the shard's streams, which are reset
// after each one. A connection's whole cost is its agreement (a byte in Connection) and a flag
// in its MessageReader. The shard's cost (docs/architecture.md, "permessage-deflate"): about
// 256 KiB per deflater window in use (most clients ask for none: one deflater, 15 bits), 44 KiB
// for the inflater, a compression scratch as large as the largest message compressed, and an
// inflation buffer as large as the largest message inflated (up to --max-message-size + 1),
// freed after a message over 64 KiB.
//
// Frames built once for many recipients are compressed once per window size
// (SharedFrame::InstallForm), on whichever shard first has a deflate recipient for them;
// unicast messages (Connection::SendMessage, the cork) are compressed as they are queued.
// Control frames are never compressed; neither is a message under --ws-deflate-min-size or one
// whose compressed form is not smaller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "core/metrics/shard_stats.h"
#include "core/net/net_options.h"
#include "core/net/shared_frame.h"
#include "proto/ws_deflate.h"

namespace ringcast {

class WsCompression {
 public:
  WsCompression(const NetOptions& options, ShardStats& stats) : options_(options), stats_(stats) {}
  WsCompression(const WsCompression&) = delete;
  WsCompression& operator=(const WsCompression&) = delete;

  // The frame to queue for a deflate connection whose server window is `window_bits`, in
  // place of `frame`: its compressed form for that window (built now if no shard has yet)
  // when `frame` is one whole data message of at least --ws-deflate-min-size bytes that
  // compresses, else `frame` itself. Takes over the caller's reference to `frame` and returns
  // one to what it gives back.
  SharedFrame* FormFor(SharedFrame* frame, int window_bits);

  // A unicast message's compressed payload (valid until the next call), or empty: send it as it
  // is (a control frame, under --ws-deflate-min-size, or not smaller compressed). With
  // `unmask_key` the payload is still masked with that key.
  std::span<const uint8_t> Compress(ws::Opcode opcode, std::span<const uint8_t> payload,
                                    const uint8_t* unmask_key, int window_bits);

  // A compressed message received (RFC 7692 §7.2.2), inflated up to `limit` bytes; the bytes
  // are inflated() until the next call.
  ws::InflateStatus Inflate(std::span<const uint8_t> payload, size_t limit);
  std::span<const uint8_t> inflated() const { return inflater_.output(); }
  // After the inflated message has been handled: a large buffer is not kept.
  void AfterInflated() { inflater_.Trim(kKeepBuffer); }

  static constexpr size_t kKeepBuffer = 64 * 1024;

 private:
  ws::Deflater& DeflaterFor(int window_bits);
  // Compresses `payload` into scratch_: its size, 0 when not worth it.
  size_t CompressToScratch(std::span<const uint8_t> payload, int window_bits);
  uint8_t* Reserve(std::unique_ptr<uint8_t[]>& buffer, size_t& capacity, size_t size);

  const NetOptions& options_;
  ShardStats& stats_;
  // Indexed by the deflater's window bits - 9 (ws::DeflaterWindowBits), made on first use.
  std::unique_ptr<ws::Deflater> deflaters_[7];
  ws::Inflater inflater_;
  std::unique_ptr<uint8_t[]> scratch_;  // The compressed form, before it is framed.
  size_t scratch_capacity_ = 0;
  std::unique_ptr<uint8_t[]> unmasked_;  // A masked unicast payload, unmasked to compress it.
  size_t unmasked_capacity_ = 0;
};

}  // namespace ringcast
