// Worker: one load-generator thread with its own io_uring, driving the connections whose id is
// congruent to its index modulo the thread count.
//
// Per connection: socket() + bind() to a source address (round-robin over --sources, with
// IP_BIND_ADDRESS_NO_PORT so the port is chosen at connect time per destination) + an io_uring
// connect, the upgrade request, then one multishot receive (kernel 6.0) over the worker's
// provided buffers for the life of the connection. Outgoing frames are masked (RFC 6455 §5.3,
// one random key per connection) and appended to the connection's pending buffer; Flush() issues
// at most one send per connection per loop iteration with everything pending, and one send is
// in flight per connection at a time so bytes stay in order.
//
// wss:// (TLS): the connection's bytes go through a TlsSession, the server's own code for it
// (core/net/tls_session.h): the pending frames are encrypted at flush time and the records
// sent instead; received records are decrypted before the frame reader sees them. The server's
// certificate is not verified: the tool measures, it does not trust.
//
// Owner: the worker thread for everything except counters() (atomics, read by the main thread
// while running) and the histograms, which the main thread reads after Join().
#pragma once

#include <liburing.h>
#include <netinet/in.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/io/buffer_ring.h"
#include "core/io/ring.h"
#include "core/net/tls_session.h"
#include "proto/ws_deflate.h"
#include "proto/ws_frame.h"
#include "proto/ws_reader.h"
#include "tools/bench/histogram.h"
#include "tools/bench/scenario.h"

using SSL_CTX = struct ssl_ctx_st;

namespace ringcast::bench {

// A growable byte buffer that, unlike std::vector, does not zero what it grows into.
class OutBuffer {
 public:
  uint8_t* Extend(size_t n) {
    if (size_ + n > capacity_) Grow(size_ + n);
    uint8_t* p = data_.get() + size_;
    size_ += n;
    return p;
  }
  uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void Clear() { size_ = 0; }
  void Release() {
    data_.reset();
    size_ = capacity_ = 0;
  }
  void Swap(OutBuffer& other) {
    data_.swap(other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
  }

 private:
  void Grow(size_t needed);
  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// Published by the worker once per loop iteration (relaxed stores), read by the main thread.
struct alignas(64) WorkerCounters {
  std::atomic<uint64_t> connects_started{0};
  std::atomic<uint64_t> opened{0};  // Handshake completed.
  std::atomic<uint64_t> failed{0};  // Connect, handshake or later failures.
  std::atomic<uint64_t> closed_clean{0};
  std::atomic<uint64_t> messages_sent{0};
  std::atomic<uint64_t> messages_received{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> bytes_received{0};
  // Data messages' payload bytes (before compression, after inflation): with --deflate, what
  // the wire bytes above would have been without it, frames aside.
  std::atomic<uint64_t> payload_bytes_sent{0};
  std::atomic<uint64_t> payload_bytes_received{0};
  std::atomic<uint64_t> messages_compressed_received{0};  // With RSV1 (--deflate).
  std::atomic<uint64_t> deflate_connections{0};  // Handshakes whose server agreed to deflate.
  // How well the loop batches: sends and receive completions per loop iteration.
  std::atomic<uint64_t> loop_iterations{0};
  std::atomic<uint64_t> sends{0};
  std::atomic<uint64_t> recv_completions{0};
};

class Worker {
 public:
  // `servers`: one address per options.urls entry; each connection opens to the one
  // scenario.ServerFor(id, servers.size()) names.
  Worker(uint32_t index, const CommonOptions& options, Scenario& scenario, RunShared& run,
         const std::vector<sockaddr_in>& servers);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Main thread. Start() returns once the ring is set up: 0 or -errno (with error()).
  int Start(int64_t connect_start_ns);
  void Join();
  const std::string& error() const { return error_; }
  const WorkerCounters& counters() const { return counters_; }
  const Histogram& connect_latency() const { return connect_latency_; }  // After Join().
  // Handshakes completed per server (index into options.urls). After Join().
  const std::vector<uint64_t>& opened_per_server() const { return opened_per_server_; }

  // --- scenario API, worker thread ---
  uint32_t index() const { return index_; }
  const std::vector<uint32_t>& conn_ids() const { return ids_; }
  bool IsOpen(uint32_t conn) const { return conns_[conn / threads_].state == State::kOpen; }
  RunShared& run() { return run_; }
  // Appends one masked frame of `size` payload bytes to `conn`'s pending output; `fill(p)`
  // writes the payload. Returns false (without calling fill) when the connection is not open.
  template <typename Fill>
  bool Send(uint32_t conn, ws::Opcode opcode, size_t size, Fill&& fill);
  // Any thread: interrupts this worker's wait so it runs OnTick now.
  void Wake();

 private:
  enum class State : uint8_t { kIdle, kConnecting, kHandshake, kOpen, kClosing, kDead };
  enum class Op : uint8_t { kConnect = 1, kSend, kRecv, kWake };

  struct Conn {
    explicit Conn(ws::ReaderLimits limits) : reader(ws::Role::kClient, limits) {}
    ws::MessageReader reader;
    OutBuffer out;      // Frames queued since the last flush.
    OutBuffer sending;  // The bytes of the send in flight.
    size_t sending_offset = 0;
    std::unique_ptr<TlsSession> tls;  // wss:// only.
    std::string handshake;            // The response head while it arrives.
    std::string key;                  // Sec-WebSocket-Key, until the 101 is checked.
    int64_t started_ns = 0;
    uint32_t id = 0;
    uint32_t server = 0;  // Index into servers_ / options.urls.
    int fd = -1;
    uint8_t ops = 0;  // Requests in flight; the fd is closed only at zero.
    State state = State::kIdle;
    bool send_in_flight = false;
    bool dirty = false;
    bool deflate = false;  // The server agreed to permessage-deflate.
    std::array<uint8_t, 4> mask{};
  };

  static uint64_t UserData(Op op, uint32_t local) { return (uint64_t{uint8_t(op)} << 32) | local; }

  void Main(int64_t connect_start_ns, std::promise<int>* ready);
  int InitRing();
  io_uring_sqe* Sqe();
  void Loop();
  void OpenMore(int64_t now);
  void OpenOne(Conn& c, int64_t now);
  void ArmRecv(Conn& c);
  void ArmWake();
  void Dispatch(const io_uring_cqe* cqe, int64_t now);
  void OnConnect(Conn& c, int res, int64_t now);
  void OnSend(Conn& c, int res);
  void OnRecv(Conn& c, const io_uring_cqe* cqe, int64_t now);
  void HandleData(Conn& c, uint8_t* data, size_t size, int64_t now);
  // Plaintext: the upgrade's answer, then frames.
  void HandlePlain(Conn& c, uint8_t* data, size_t size, int64_t now);
  void StartTls(Conn& c);
  void Feed(Conn& c, uint8_t* data, size_t size, int64_t now);
  void SendControl(Conn& c, ws::Opcode opcode, std::span<const uint8_t> payload);
  // A deflate connection's message: `payload` compressed (RSV1) and masked into its output.
  void SendCompressed(Conn& c, ws::Opcode opcode, std::span<const uint8_t> payload);
  uint8_t* Plain(size_t size) {
    plain_.Clear();
    return plain_.Extend(size);
  }
  void MarkDirty(Conn& c) {
    if (!c.dirty) {
      c.dirty = true;
      dirty_.push_back(c.id / threads_);
    }
  }
  void SubmitSend(Conn& c);
  void Flush();
  // A failure of one connection. Outside the closing phase it fails the run.
  void Drop(Conn& c, const std::string& reason);
  void Retire(Conn& c);  // Stops using the connection: shutdown now, close when ops reach 0.
  void MaybeClose(Conn& c);
  void StartClosing(int64_t now);
  void PublishCounters();

  const uint32_t index_;
  const uint32_t threads_;
  const CommonOptions& options_;
  Scenario& scenario_;
  RunShared& run_;
  const std::vector<sockaddr_in> servers_;
  std::vector<std::string> host_headers_;  // Per server: the Host header and for messages.
  std::vector<uint64_t> opened_per_server_;
  std::thread thread_;
  std::string error_;

  SSL_CTX* tls_context_ = nullptr;      // wss:// only; one per worker.
  std::vector<uint8_t> tls_plaintext_;  // One record's worth.
  Ring ring_;
  bool ring_ready_ = false;
  BufferRing pool_;
  int wake_fd_ = -1;
  uint64_t wake_value_ = 0;

  std::vector<uint32_t> ids_;         // Global ids of this worker's connections, ascending.
  std::vector<Conn> conns_;           // Indexed by id / threads_.
  std::vector<uint32_t> dirty_;       // Local indexes with output to flush.
  std::vector<std::string> targets_;  // Request target per local index (freed after open).
  size_t next_open_ = 0;
  uint32_t pending_ = 0;  // Connects + handshakes in progress.
  uint32_t live_fds_ = 0;
  int64_t connect_start_ns_ = 0;
  int64_t next_open_ns_ = 0;
  bool closing_ = false;
  bool forced_ = false;
  int64_t close_deadline_ns_ = 0;
  uint64_t rng_state_ = 0;
  // --deflate: one stream each for the thread, reset per message (no context takeover).
  ws::Deflater deflater_{15, 6};
  ws::Inflater inflater_;
  OutBuffer plain_;       // A message before it is compressed.
  OutBuffer compressed_;  // ... and after.

  struct {
    uint64_t connects_started = 0, opened = 0, failed = 0, closed_clean = 0;
    uint64_t messages_sent = 0, messages_received = 0, bytes_sent = 0, bytes_received = 0;
    uint64_t payload_bytes_sent = 0, payload_bytes_received = 0, compressed_received = 0;
    uint64_t deflate_connections = 0;
    uint64_t loop_iterations = 0, sends = 0, recv_completions = 0;
  } local_;
  WorkerCounters counters_;
  Histogram connect_latency_;  // Connect start → 101 checked, ns.
};

// One counter summed over the run's workers (relaxed loads: a figure for progress lines and drain
// checks while they run, exact once they have stopped).
uint64_t SumCounter(const RunShared& run, std::atomic<uint64_t> WorkerCounters::*counter);

template <typename Fill>
bool Worker::Send(uint32_t conn, ws::Opcode opcode, size_t size, Fill&& fill) {
  Conn& c = conns_[conn / threads_];
  if (c.state != State::kOpen) return false;
  local_.payload_bytes_sent += size;
  if (c.deflate) {
    uint8_t* plain = Plain(size);
    fill(plain);
    SendCompressed(c, opcode, {plain, size});
    return true;
  }
  const size_t frame = ws::HeaderSize(size, /*masked=*/true) + size;
  uint8_t* p = c.out.Extend(frame);
  const size_t header = ws::EncodeHeader(p, opcode, /*fin=*/true, size, c.mask.data());
  fill(p + header);
  ws::ApplyMask(p + header, size, c.mask.data());
  ++local_.messages_sent;
  local_.bytes_sent += frame;
  MarkDirty(c);
  return true;
}

}  // namespace ringcast::bench
