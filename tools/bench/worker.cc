#include "tools/bench/worker.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>

#include "tools/bench/client_handshake.h"
#include "tools/bench/system_info.h"

namespace ringcast::bench {
namespace {

constexpr unsigned kRingEntries = 4096;
constexpr uint16_t kBufferGroup = 1;
constexpr int64_t kMaxSleepNs = 10'000'000;  // Phase changes are noticed within 10 ms.
constexpr int64_t kCloseGraceNs = 2'000'000'000;

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::string ErrnoText(int err) {
  return std::string(strerror(err)) + " (" + std::to_string(err) + ")";
}

}  // namespace

void OutBuffer::Grow(size_t needed) {
  size_t capacity = std::max<size_t>(capacity_ * 2, 256);
  while (capacity < needed) capacity *= 2;
  auto data = std::make_unique_for_overwrite<uint8_t[]>(capacity);
  if (size_ > 0) std::memcpy(data.get(), data_.get(), size_);
  data_ = std::move(data);
  capacity_ = capacity;
}

Worker::Worker(uint32_t index, const CommonOptions& options, Scenario& scenario, RunShared& run,
               const std::vector<sockaddr_in>& servers)
    : index_(index),
      threads_(options.threads),
      options_(options),
      scenario_(scenario),
      run_(run),
      servers_(servers),
      opened_per_server_(servers.size(), 0) {
  for (const WsUrl& url : options.urls) host_headers_.push_back(url.HostHeader());
  ws::ReaderLimits limits;
  limits.max_message_size = options.max_message_size;
  const auto server_count = static_cast<uint32_t>(servers.size());
  for (uint32_t id = index; id < scenario.connection_count(); id += threads_) {
    ids_.push_back(id);
    conns_.emplace_back(limits);
    conns_.back().id = id;
    conns_.back().server = scenario.ServerFor(id, server_count);
    targets_.push_back(scenario.TargetFor(id));
  }
  rng_state_ = (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}() ^ index;
  if (options.url.tls) {
    tls_context_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(tls_context_, TLS1_2_VERSION);
    tls_plaintext_.resize(16 * 1024);
  }
}

Worker::~Worker() {
  Join();
  for (Conn& c : conns_) {
    if (c.fd >= 0) close(c.fd);
  }
  conns_.clear();  // Their sessions hold references to the context.
  SSL_CTX_free(tls_context_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

int Worker::Start(int64_t connect_start_ns) {
  std::promise<int> ready;
  std::future<int> result = ready.get_future();
  thread_ = std::thread([this, connect_start_ns, &ready] { Main(connect_start_ns, &ready); });
  return result.get();
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::Wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

int Worker::InitRing() {
  int rc = ring_.Init(kRingEntries);
  if (rc < 0) {
    error_ = "io_uring_queue_init: " + ErrnoText(-rc) +
             (rc == -EPERM    ? ": io_uring is disabled (sysctl kernel.io_uring_disabled or a "
                                "container seccomp profile)"
              : rc == -ENOMEM ? ": raise the memlock limit (ulimit -l)"
                              : "");
    return rc;
  }
  ring_ready_ = true;
  rc = pool_.Init(ring_.raw(), kBufferGroup, options_.recv_buffers, options_.recv_buffer_size);
  if (rc < 0) {
    error_ = "provided buffer ring (needs kernel 5.19): " + ErrnoText(-rc);
    return rc;
  }
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    error_ = "eventfd: " + ErrnoText(errno);
    return -errno;
  }
  ArmWake();
  return 0;
}

void Worker::Main(int64_t connect_start_ns, std::promise<int>* ready) {
  connect_start_ns_ = connect_start_ns;
  next_open_ns_ = connect_start_ns;
  const int rc = InitRing();
  ready->set_value(rc);  // `ready` dies with Start()'s frame after this.
  if (rc == 0) Loop();
  for (Conn& c : conns_) {
    if (c.fd >= 0) {
      close(c.fd);
      c.fd = -1;
    }
  }
  if (ring_ready_) {
    pool_.Reset();
    ring_.Reset();
    ring_ready_ = false;
  }
  PublishCounters();
}

io_uring_sqe* Worker::Sqe() { return ring_.GetSqe(); }

void Worker::ArmWake() {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof(wake_value_), 0);
  io_uring_sqe_set_data64(sqe, UserData(Op::kWake, 0));
}

void Worker::Loop() {
  while (true) {
    const int64_t now = NowNs();
    const auto phase = static_cast<Phase>(run_.phase.load(std::memory_order_acquire));
    int64_t wake_at = now + kMaxSleepNs;
    if (phase == Phase::kClosing) {
      if (!closing_) StartClosing(now);
      if (!forced_ && now >= close_deadline_ns_) {
        // The server did not finish the close handshake in time: stop waiting for it.
        forced_ = true;
        for (Conn& c : conns_) {
          if (c.fd >= 0) Retire(c);
        }
      }
      if (live_fds_ == 0 || now >= close_deadline_ns_ + kCloseGraceNs) break;
      wake_at = std::min(wake_at, close_deadline_ns_);
    } else {
      OpenMore(now);
      if (next_open_ < conns_.size()) wake_at = std::min(wake_at, next_open_ns_);
      if (phase == Phase::kRunning) {
        scenario_.OnTick(*this, now);
        wake_at = std::min(wake_at, scenario_.NextWakeNs(*this));
      }
    }
    Flush();
    pool_.Commit();
    PublishCounters();

    const int64_t wait_ns = std::max<int64_t>(0, wake_at - NowNs());
    __kernel_timespec ts{.tv_sec = wait_ns / 1'000'000'000, .tv_nsec = wait_ns % 1'000'000'000};
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_submit_and_wait_timeout(ring_.raw(), &cqe, 1, &ts, nullptr);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      run_.Fail("worker " + std::to_string(index_) +
                ": io_uring_submit_and_wait: " + ErrnoText(-rc));
      break;
    }
    ++local_.loop_iterations;
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(ring_.raw(), head, cqe) {
      // A clock read per completion (vDSO, ~20 ns): a receive is timed when this thread gets to
      // it, not when the batch it came in was reaped, so a long batch cannot flatter latency.
      Dispatch(cqe, NowNs());
      ++seen;
    }
    io_uring_cq_advance(ring_.raw(), seen);
  }
}

void Worker::OpenMore(int64_t now) {
  const double rate = options_.connect_rate / threads_;  // Per worker.
  while (next_open_ < conns_.size() && pending_ < options_.max_pending) {
    if (rate > 0) {
      // Connection n of this worker may start at connect_start + n / rate.
      next_open_ns_ =
          connect_start_ns_ + static_cast<int64_t>(static_cast<double>(next_open_) * 1e9 / rate);
      if (next_open_ns_ > now) return;
    }
    OpenOne(conns_[next_open_], now);
    ++next_open_;
  }
  // Blocked by max_pending: retry when a handshake finishes (the loop runs on every completion).
  next_open_ns_ = now + kMaxSleepNs;
}

void Worker::OpenOne(Conn& c, int64_t now) {
  ++local_.connects_started;
  c.started_ns = now;
  c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    const int err = errno;
    c.state = State::kDead;
    ++local_.failed;
    run_.Fail("connection " + std::to_string(c.id) + ": socket: " + ErrnoText(err) +
              (err == EMFILE ? ": out of file descriptors; lower --connections or raise the hard "
                               "limit (ulimit -Hn)"
                             : ""));
    return;
  }
  ++live_fds_;
  const int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (!options_.sources.empty()) {
    // Without IP_BIND_ADDRESS_NO_PORT (4.2) bind() would reserve a port for every destination,
    // limiting each source to one ephemeral range in total rather than per server address.
    setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    sockaddr_in source{};
    source.sin_family = AF_INET;
    source.sin_addr.s_addr = htonl(options_.sources[c.id % options_.sources.size()]);
    if (bind(c.fd, reinterpret_cast<const sockaddr*>(&source), sizeof(source)) != 0) {
      const int err = errno;
      Drop(c,
           "bind to source " + Ipv4ToString(ntohl(source.sin_addr.s_addr)) + ": " + ErrnoText(err));
      return;
    }
  }
  const uint64_t r = SplitMix64(&rng_state_);
  std::memcpy(c.mask.data(), &r, 4);
  c.state = State::kConnecting;
  ++pending_;
  ++c.ops;
  io_uring_sqe* sqe = Sqe();
  const sockaddr_in& server = servers_[c.server];
  io_uring_prep_connect(sqe, c.fd, reinterpret_cast<const sockaddr*>(&server), sizeof(server));
  io_uring_sqe_set_data64(sqe, UserData(Op::kConnect, c.id / threads_));
}

void Worker::ArmRecv(Conn& c) {
  ++c.ops;
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_recv_multishot(sqe, c.fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = pool_.group_id();
  io_uring_sqe_set_data64(sqe, UserData(Op::kRecv, c.id / threads_));
}

void Worker::Dispatch(const io_uring_cqe* cqe, int64_t now) {
  const auto op = static_cast<Op>(cqe->user_data >> 32);
  const auto local = static_cast<uint32_t>(cqe->user_data);
  if (op == Op::kWake) {
    if (!closing_) ArmWake();
    return;
  }
  Conn& c = conns_[local];
  switch (op) {
    case Op::kConnect:
      OnConnect(c, cqe->res, now);
      break;
    case Op::kSend:
      OnSend(c, cqe->res);
      break;
    case Op::kRecv:
      OnRecv(c, cqe, now);
      break;
    case Op::kWake:
      break;
  }
  MaybeClose(c);
}

void Worker::OnConnect(Conn& c, int res, int64_t /*now*/) {
  --c.ops;
  if (c.state != State::kConnecting) return;
  if (res < 0) {
    Drop(c, "connect to " + host_headers_[c.server] + ": " + ErrnoText(-res));
    return;
  }
  c.state = State::kHandshake;
  std::array<uint8_t, 16> nonce;
  const uint64_t a = SplitMix64(&rng_state_);
  const uint64_t b = SplitMix64(&rng_state_);
  std::memcpy(nonce.data(), &a, 8);
  std::memcpy(nonce.data() + 8, &b, 8);
  c.key = EncodeKey(nonce);
  std::string& target = targets_[c.id / threads_];
  const std::string request = BuildUpgradeRequest(host_headers_[c.server], target, c.key,
                                                  options_.deflate ? kDeflateOffer : "");
  std::string().swap(target);
  std::memcpy(c.out.Extend(request.size()), request.data(), request.size());
  if (tls_context_ != nullptr) StartTls(c);  // The request waits for the handshake.
  MarkDirty(c);
  ArmRecv(c);
}

void Worker::StartTls(Conn& c) {
  SSL* ssl = SSL_new(tls_context_);
  const std::string& host = options_.urls[c.server].host;
  in_addr ignored;
  // SNI names a host, never an address (RFC 6066 §3).
  if (inet_pton(AF_INET, host.c_str(), &ignored) != 1) SSL_set_tlsext_host_name(ssl, host.c_str());
  c.tls = std::make_unique<TlsSession>(ssl, TlsSession::Role::kClient);
  size_t read = 0;
  c.tls->Read(tls_plaintext_, &read);  // Writes the ClientHello.
}

void Worker::SubmitSend(Conn& c) {
  ++local_.sends;
  ++c.ops;
  c.send_in_flight = true;
  io_uring_sqe* sqe = Sqe();
  if (c.tls != nullptr) {
    const std::span<const uint8_t> records = c.tls->BeginSend();
    io_uring_prep_send(sqe, c.fd, records.data(), records.size(), MSG_NOSIGNAL);
  } else {
    io_uring_prep_send(sqe, c.fd, c.sending.data() + c.sending_offset,
                       c.sending.size() - c.sending_offset, MSG_NOSIGNAL);
  }
  io_uring_sqe_set_data64(sqe, UserData(Op::kSend, c.id / threads_));
}

void Worker::Flush() {
  for (uint32_t local : dirty_) {
    Conn& c = conns_[local];
    c.dirty = false;
    if (c.state == State::kDead) {
      c.out.Release();
      continue;
    }
    if (c.send_in_flight) continue;  // OnSend re-marks it.
    if (c.tls != nullptr) {
      if (c.tls->established() && !c.out.empty()) {
        c.tls->Encrypt({c.out.data(), c.out.size()});
        c.out.Clear();
      }
      if (c.tls->has_output()) SubmitSend(c);
      continue;
    }
    if (c.out.empty()) continue;
    c.out.Swap(c.sending);
    c.sending_offset = 0;
    SubmitSend(c);
  }
  dirty_.clear();
}

void Worker::OnSend(Conn& c, int res) {
  --c.ops;
  c.send_in_flight = false;
  if (c.state == State::kDead) return;
  if (res < 0) {
    Drop(c, "send: " + ErrnoText(-res));
    return;
  }
  if (c.tls != nullptr) {
    c.tls->Sent(static_cast<size_t>(res));  // A short send leaves the rest for the next.
    if (c.tls->has_output() || !c.out.empty()) MarkDirty(c);
    return;
  }
  c.sending_offset += static_cast<size_t>(res);
  if (c.sending_offset < c.sending.size()) {
    SubmitSend(c);  // Short send: the rest goes before anything queued after it.
    return;
  }
  c.sending.Clear();
  if (!c.out.empty()) MarkDirty(c);
}

void Worker::OnRecv(Conn& c, const io_uring_cqe* cqe, int64_t now) {
  const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
  if (!more) --c.ops;
  const int res = cqe->res;
  ++local_.recv_completions;
  if (res > 0) {
    const auto buffer_id = static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    local_.bytes_received += static_cast<uint64_t>(res);
    if (c.state != State::kDead) HandleData(c, pool_.Buffer(buffer_id), size_t(res), now);
    pool_.Recycle(buffer_id);
    if (!more && c.state != State::kDead) ArmRecv(c);
    return;
  }
  if (c.state == State::kDead) return;
  if (res == -ENOBUFS) {
    // The buffer pool ran dry; a normal event under bursts. The buffers recycled this
    // iteration are committed before the re-armed receive is submitted.
    if (!more) ArmRecv(c);
    return;
  }
  if (c.state == State::kClosing) {
    // EOF (or a reset) after our close frame: the close handshake is over.
    ++local_.closed_clean;
    Retire(c);
    return;
  }
  Drop(c, res == 0 ? "the server closed the connection" : "recv: " + ErrnoText(-res));
}

void Worker::HandleData(Conn& c, uint8_t* data, size_t size, int64_t now) {
  if (c.tls == nullptr) return HandlePlain(c, data, size, now);
  TlsSession& tls = *c.tls;
  tls.Feed({data, size});
  for (;;) {
    size_t read = 0;
    const TlsSession::Result result = tls.Read(tls_plaintext_, &read);
    if (result == TlsSession::Result::kData) {
      HandlePlain(c, tls_plaintext_.data(), read, now);
      if (c.state == State::kDead) break;
      continue;
    }
    if (result == TlsSession::Result::kFailed) {
      Drop(c, "TLS with " + host_headers_[c.server] + ": " + std::string(tls.failure()));
    }
    break;  // kClosed: the server's EOF, which the receive reports next.
  }
  tls.EndFeed();
  // Handshake flights, and the upgrade request once the handshake is done.
  if (c.state != State::kDead && (tls.has_output() || (tls.established() && !c.out.empty()))) {
    MarkDirty(c);
  }
}

void Worker::HandlePlain(Conn& c, uint8_t* data, size_t size, int64_t now) {
  if (c.state != State::kHandshake) {
    Feed(c, data, size, now);
    return;
  }
  c.handshake.append(reinterpret_cast<const char*>(data), size);
  UpgradeResult result = ParseUpgradeResponse(c.handshake, c.key);
  if (result.status == UpgradeStatus::kNeedMore) return;
  if (result.status == UpgradeStatus::kError) {
    Drop(c, "handshake with " + host_headers_[c.server] + ": " + result.error);
    return;
  }
  --pending_;
  if (result.deflate) {
    c.deflate = true;
    c.reader.set_compressed_allowed(true);
    ++local_.deflate_connections;
  }
  // Frames may follow the 101 in the same segment (a broadcast can start right away).
  std::string rest = c.handshake.substr(result.consumed);
  std::string().swap(c.handshake);
  std::string().swap(c.key);
  c.state = State::kOpen;
  ++local_.opened;
  ++opened_per_server_[c.server];
  connect_latency_.Record(static_cast<uint64_t>(std::max<int64_t>(0, now - c.started_ns)));
  scenario_.OnOpen(*this, c.id, now);
  if (!rest.empty() && c.state == State::kOpen) {
    Feed(c, reinterpret_cast<uint8_t*>(rest.data()), rest.size(), now);
  }
}

void Worker::Feed(Conn& c, uint8_t* data, size_t size, int64_t now) {
  std::span<uint8_t> input(data, size);
  while (true) {
    const ws::Event event = c.reader.Next(&input);
    switch (event.kind) {
      case ws::EventKind::kNeedMore:
        return;
      case ws::EventKind::kText:
      case ws::EventKind::kBinary: {
        ++local_.messages_received;
        std::span<const uint8_t> payload = event.payload;
        if (event.compressed) {
          ++local_.compressed_received;
          if (inflater_.Inflate(payload, options_.max_message_size) != ws::InflateStatus::kOk) {
            Drop(c, "a compressed message that does not inflate (or past --max-message-size)");
            return;
          }
          payload = inflater_.output();
        }
        local_.payload_bytes_received += payload.size();
        if (c.state == State::kOpen) {
          scenario_.OnMessage(
              *this, c.id,
              event.kind == ws::EventKind::kText ? ws::Opcode::kText : ws::Opcode::kBinary, payload,
              now);
        }
        break;
      }
      case ws::EventKind::kPing:
        // §5.5.2: answer with a pong carrying the same payload (the server's idle check).
        if (c.state == State::kOpen) SendControl(c, ws::Opcode::kPong, event.payload);
        break;
      case ws::EventKind::kPong:
        break;
      case ws::EventKind::kClose:
        if (c.state != State::kClosing) {
          Drop(c, "the server sent close " + std::to_string(event.close_code) + " '" +
                      std::string(reinterpret_cast<const char*>(event.payload.data()),
                                  event.payload.size()) +
                      "'");
        }
        return;  // In kClosing: the server's answer to ours; EOF follows.
      case ws::EventKind::kError:
        Drop(c, "protocol error from the server: " + std::string(event.error_reason));
        return;
    }
    if (c.state == State::kDead) return;
  }
}

void Worker::SendControl(Conn& c, ws::Opcode opcode, std::span<const uint8_t> payload) {
  uint8_t* p = c.out.Extend(ws::HeaderSize(payload.size(), true) + payload.size());
  const size_t header = ws::EncodeHeader(p, opcode, true, payload.size(), c.mask.data());
  if (!payload.empty()) std::memcpy(p + header, payload.data(), payload.size());
  ws::ApplyMask(p + header, payload.size(), c.mask.data());
  MarkDirty(c);
}

void Worker::Drop(Conn& c, const std::string& reason) {
  if (c.state == State::kDead) return;
  const bool expected =
      c.state == State::kClosing ||
      static_cast<Phase>(run_.phase.load(std::memory_order_relaxed)) == Phase::kClosing;
  if (!expected) {
    ++local_.failed;
    run_.Fault("connection " + std::to_string(c.id) + ": " + reason);
    scenario_.OnDropped(*this, c.id);
  }
  Retire(c);
}

void Worker::Retire(Conn& c) {
  if (c.state == State::kConnecting || c.state == State::kHandshake) --pending_;
  c.state = State::kDead;
  c.out.Release();
  if (c.fd >= 0 && c.ops > 0) shutdown(c.fd, SHUT_RDWR);  // Ends the receive and any send.
  MaybeClose(c);
}

void Worker::MaybeClose(Conn& c) {
  if (c.state != State::kDead || c.fd < 0 || c.ops > 0) return;
  close(c.fd);
  c.fd = -1;
  --live_fds_;
  c.sending.Release();
  c.tls.reset();  // No send is in flight now: its records may go.
  std::string().swap(c.handshake);
}

void Worker::StartClosing(int64_t now) {
  closing_ = true;
  close_deadline_ns_ = now + kCloseGraceNs;
  for (Conn& c : conns_) {
    switch (c.state) {
      case State::kOpen: {
        // §5.5.1: code 1000, then wait for the server's close frame and its TCP close.
        uint8_t payload[ws::kMaxControlPayload];
        const size_t n = ws::EncodeClosePayload(payload, 1000, "bench done");
        SendControl(c, ws::Opcode::kClose, {payload, n});
        c.state = State::kClosing;
        break;
      }
      case State::kConnecting:
      case State::kHandshake:
        Retire(c);
        break;
      case State::kIdle:
        c.state = State::kDead;
        break;
      case State::kClosing:
      case State::kDead:
        break;
    }
  }
}

void Worker::SendCompressed(Conn& c, ws::Opcode opcode, std::span<const uint8_t> payload) {
  // Compressed whatever it gives, as browsers do: the form may be a few bytes larger.
  const size_t limit = payload.size() + 64;
  compressed_.Clear();
  uint8_t* out = compressed_.Extend(limit + 4);
  size_t size = deflater_.Compress(payload, out, limit);
  const bool compressed = size != 0 || payload.empty();
  if (!compressed) {  // zlib failed (out of memory): the message goes as it is.
    out = const_cast<uint8_t*>(payload.data());
    size = payload.size();
  }
  const size_t frame = ws::HeaderSize(size, /*masked=*/true) + size;
  uint8_t* p = c.out.Extend(frame);
  const size_t header =
      ws::EncodeHeader(p, opcode, /*fin=*/true, size, c.mask.data(), compressed && size != 0);
  ws::CopyMasked(p + header, out, size, c.mask.data());
  ++local_.messages_sent;
  local_.bytes_sent += frame;
  MarkDirty(c);
}

void Worker::PublishCounters() {
  auto publish = [](std::atomic<uint64_t>& to, uint64_t value) {
    to.store(value, std::memory_order_relaxed);
  };
  publish(counters_.connects_started, local_.connects_started);
  publish(counters_.opened, local_.opened);
  publish(counters_.failed, local_.failed);
  publish(counters_.closed_clean, local_.closed_clean);
  publish(counters_.messages_sent, local_.messages_sent);
  publish(counters_.messages_received, local_.messages_received);
  publish(counters_.bytes_sent, local_.bytes_sent);
  publish(counters_.bytes_received, local_.bytes_received);
  publish(counters_.payload_bytes_sent, local_.payload_bytes_sent);
  publish(counters_.payload_bytes_received, local_.payload_bytes_received);
  publish(counters_.messages_compressed_received, local_.compressed_received);
  publish(counters_.deflate_connections, local_.deflate_connections);
  publish(counters_.loop_iterations, local_.loop_iterations);
  publish(counters_.sends, local_.sends);
  publish(counters_.recv_completions, local_.recv_completions);
}

uint64_t SumCounter(const RunShared& run, std::atomic<uint64_t> WorkerCounters::*counter) {
  uint64_t total = 0;
  for (const Worker* w : run.workers)
    total += (w->counters().*counter).load(std::memory_order_relaxed);
  return total;
}

}  // namespace ringcast::bench
