// permessage-deflate (RFC 7692): the offer a client makes in Sec-WebSocket-Extensions, the
// server's answer, and one message compressed or inflated with zlib.
//
// Pure code, no I/O. The server always answers with server_no_context_takeover and
// client_no_context_takeover (§7.1.1.1 and §7.1.1.2 let it add both), so every message is
// compressed and inflated on its own: no LZ77 window outlives a message, and one Deflater and one
// Inflater per shard serve all its connections (docs/architecture.md, "permessage-deflate").
// Neither type is thread-safe: each belongs to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "proto/http_parser.h"

typedef struct z_stream_s z_stream;  // NOLINT: zlib.h's own declaration, kept out of the header.

namespace ringcast::ws {

// What the server agreed to for one connection. Three bytes, so it travels in a DeferredHttp.
struct DeflateAgreement {
  bool enabled = false;
  // The offer's server_max_window_bits (8..15), echoed in the answer; 0: the offer had none, and
  // the server's window is zlib's largest (15).
  uint8_t server_max_window_bits = 0;
  // The offer's client_max_window_bits value (8..15), echoed in the answer (§7.1.2.2 allows it:
  // the client keeps the window it chose); 0: none, or one without a value. Only the answer uses
  // it: the server inflates with 15 bits, which reads every window.
  uint8_t client_max_window_bits = 0;

  bool operator==(const DeflateAgreement&) const = default;
  // The LZ77 window (bits) the server may use for this connection's messages.
  int server_window_bits() const {
    return server_max_window_bits == 0 ? 15 : server_max_window_bits;
  }
};

// Picks the first acceptable permessage-deflate offer of a Sec-WebSocket-Extensions value
// (§5.1: the offers are in the client's order of preference). An offer is declined, and the next
// one tried, when it is malformed or has a parameter RFC 7692 does not define for offers, a
// parameter twice, or a bad value (§7: server_max_window_bits must be 8..15 without leading
// zeros; client_max_window_bits may also have no value; the no_context_takeover ones none).
// Other extensions are ignored (none is supported). Not enabled when nothing is acceptable.
DeflateAgreement NegotiateDeflate(std::string_view extensions);
// The same over every Sec-WebSocket-Extensions line of a request, in order (RFC 9110 §5.3: the
// lines form one list).
DeflateAgreement NegotiateDeflate(const http::Request& request);

// The answer's header value for an enabled agreement (§7.1):
// "permessage-deflate; server_no_context_takeover; client_no_context_takeover" and the
// server_max_window_bits and client_max_window_bits values the offer named.
std::string DeflateResponse(const DeflateAgreement& agreement);

// zlib's raw DEFLATE refuses an 8-bit window, but with 9 bits it never emits a distance past
// 250 (its window minus MIN_LOOKAHEAD, 262), which a 256-byte window decodes: so a client's
// server_max_window_bits=8 is honoured with a 9-bit deflater.
constexpr int DeflaterWindowBits(int server_window_bits) {
  return server_window_bits < 9 ? 9 : server_window_bits;
}

// One message compressed on its own (§7.2.1): raw DEFLATE flushed with Z_SYNC_FLUSH, the final
// 00 00 ff ff removed, the stream reset afterwards (no context takeover).
class Deflater {
 public:
  // `window_bits` 9..15 (DeflaterWindowBits), `level` 1..9 (zlib's), `mem_level` 1..9. The
  // zlib stream is allocated by the first Compress (about 2^(window_bits+2) + 2^(mem_level+9)
  // bytes: 256 KiB at 15 and 8) and kept.
  Deflater(int window_bits, int level, int mem_level = 8);
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  // Writes the compressed form of `in` at `out` (room for limit + 4 bytes: the flush's tail is
  // written there too) and returns its size, which is under `limit` (in.size(): only forms that
  // are smaller); 0 when there is no such form or zlib failed (out of memory): the message is
  // then sent as it is. Never throws.
  size_t Compress(std::span<const uint8_t> in, uint8_t* out, size_t limit);

  int window_bits() const { return window_bits_; }

 private:
  std::unique_ptr<z_stream> stream_;
  int window_bits_;
  int level_;
  int mem_level_;
};

enum class InflateStatus : uint8_t {
  kOk,
  kTooBig,  // The message inflates past the limit: no byte past limit + 1 was produced.
  kError,   // Not valid DEFLATE.
};

// One message inflated on its own (§7.2.2): the payload with 00 00 ff ff appended, into a
// buffer the inflater owns, never past a limit (a small message that inflates to gigabytes
// costs at most limit + 1 bytes of output and the CPU to make them).
class Inflater {
 public:
  Inflater();  // Out of line, as the destructor: z_stream is incomplete here.
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // The output is valid until the next call, or Trim. A message may end with a final block
  // (BFINAL); what follows it in the same message is ignored. Never throws (allocation
  // failure aside).
  InflateStatus Inflate(std::span<const uint8_t> in, size_t limit);
  std::span<const uint8_t> output() const { return {out_.get(), out_size_}; }
  // Frees the output buffer when it has grown past `keep` bytes (one large message does not
  // keep its buffer for good).
  void Trim(size_t keep);

 private:
  bool Grow(size_t limit);
  InflateStatus Run(z_stream& z, std::span<const uint8_t> in, size_t limit);

  std::unique_ptr<z_stream> stream_;  // Window 15: reads every window the peer may use.
  std::unique_ptr<uint8_t[]> out_;
  size_t out_capacity_ = 0;
  size_t out_size_ = 0;
};

}  // namespace ringcast::ws
