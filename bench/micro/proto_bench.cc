// Micro-benchmarks for the protocol layer: the per-connection and per-frame hot paths.
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "proto/http_parser.h"
#include "proto/utf8.h"
#include "proto/ws_deflate.h"
#include "proto/ws_frame.h"
#include "proto/ws_handshake.h"
#include "proto/ws_reader.h"

namespace {

using namespace ringcast;

// What Chrome sends when a page opens a WebSocket.
constexpr std::string_view kBrowserUpgrade =
    "GET /ws?room=lobby HTTP/1.1\r\n"
    "Host: chat.example.com\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: https://chat.example.com\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Cookie: session=5f2b1c9e8d7a6b5c4d3e2f1a; theme=dark\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

void BM_HttpParser_Upgrade(benchmark::State& state) {
  http::Request request;
  const http::Limits limits;
  for (auto _ : state) {
    http::ParseResult r = http::ParseRequest(kBrowserUpgrade, limits, &request);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(request.header_count);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBrowserUpgrade.size()));
}
BENCHMARK(BM_HttpParser_Upgrade);

// Parse + validate + accept-key computation: the whole CPU cost of an upgrade.
void BM_Handshake_Validate(benchmark::State& state) {
  http::Request request;
  const http::Limits limits;
  for (auto _ : state) {
    http::ParseRequest(kBrowserUpgrade, limits, &request);
    ws::HandshakeResult r = ws::ValidateUpgrade(request);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Handshake_Validate);

// One masked binary frame, as a client sends it, parsed and unmasked in place by the reader.
// Unmasking toggles the payload between masked and clear on alternate iterations; a binary
// payload is not inspected, so every iteration does the same work.
void BM_FrameParse_Unmask(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
  std::vector<uint8_t> frame(ws::kMaxHeaderSize + size);
  const size_t header = ws::EncodeHeader(frame.data(), ws::Opcode::kBinary, true, size, key);
  frame.resize(header + size);
  for (size_t i = 0; i < size; ++i) frame[header + i] = static_cast<uint8_t>(i * 31);
  ws::MessageReader reader(ws::Role::kServer, {});
  for (auto _ : state) {
    std::span<uint8_t> input(frame);
    ws::Event e = reader.Next(&input);
    benchmark::DoNotOptimize(e);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame.size()));
}
BENCHMARK(BM_FrameParse_Unmask)->Arg(16)->Arg(512)->Arg(16384);

// Args: size in bytes, 0 = ASCII / 1 = mixed 1- to 4-byte code points.
void BM_Utf8_Validate(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  const bool mixed = state.range(1) != 0;
  std::string text;
  const std::string_view unit = mixed ? "caf\xC3\xA9 \xE2\x82\xAC 5 \xF0\x9F\x98\x80 \xCE\xBA"
                                      : "The quick brown fox jumps over the lazy dog. ";
  // Whole units only, then ASCII padding, so no code point is cut.
  while (text.size() + unit.size() <= size) text += unit;
  text.resize(size, 'x');
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  if (!IsValidUtf8(bytes)) state.SkipWithError("benchmark input is not valid UTF-8");
  for (auto _ : state) {
    bool ok = IsValidUtf8(bytes);
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Utf8_Validate)->ArgNames({"bytes", "mixed"})->ArgsProduct({{1024, 65536}, {0, 1}});

// Server-side frame encoding: header + payload copy into an output buffer.
void BM_FrameEncode(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  const std::vector<uint8_t> payload(size, 0x42);
  std::vector<uint8_t> out(ws::kMaxHeaderSize + size);
  for (auto _ : state) {
    const size_t header = ws::EncodeHeader(out.data(), ws::Opcode::kBinary, true, size);
    std::memcpy(out.data() + header, payload.data(), size);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}
BENCHMARK(BM_FrameEncode)->Arg(16)->Arg(512)->Arg(16384);

// N bytes of JSON chat events, as the chat sends them.
std::string ChatEvents(size_t size) {
  std::string s;
  for (int i = 0; s.size() < size; ++i) {
    s += R"({"type":"message","conv":)" + std::to_string(100 + i % 37) + R"(,"seq":)" +
         std::to_string(1000 + i) + R"(,"from":42,"cid":"c-)" + std::to_string(i * 7919) +
         R"(","kind":"text","body":"see you at the meeting tomorrow, ok?"})";
  }
  s.resize(size);
  return s;
}

// permessage-deflate, one message compressed alone (no context takeover: the stream is reset
// each time), level 6, 15-bit window: what a message costs the shard that compresses it.
void BM_Deflate_ChatMessage(benchmark::State& state) {
  const std::string text = ChatEvents(static_cast<size_t>(state.range(0)));
  const std::span<const uint8_t> in(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  ws::Deflater deflater(15, 6);
  std::vector<uint8_t> out(text.size() + 4);
  size_t size = 0;
  for (auto _ : state) {
    size = deflater.Compress(in, out.data(), text.size());
    benchmark::DoNotOptimize(size);
  }
  state.counters["ratio"] = double(size) / double(text.size());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Deflate_ChatMessage)->Arg(256)->Arg(1024)->Arg(16384);

// ... and inflated by the receiving shard.
void BM_Inflate_ChatMessage(benchmark::State& state) {
  const std::string text = ChatEvents(static_cast<size_t>(state.range(0)));
  const std::span<const uint8_t> in(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  ws::Deflater deflater(15, 6);
  std::vector<uint8_t> compressed(text.size() + 4);
  compressed.resize(deflater.Compress(in, compressed.data(), text.size()));
  ws::Inflater inflater;
  for (auto _ : state) {
    benchmark::DoNotOptimize(inflater.Inflate(compressed, 1 << 20));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Inflate_ChatMessage)->Arg(256)->Arg(1024)->Arg(16384);

}  // namespace
