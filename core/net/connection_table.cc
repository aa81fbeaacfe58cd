// ConnectionTable: slots, accept, close and release; connection_io.cc has receive and send.
#include "core/net/connection_table.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/net/http_driver.h"
#include "core/net/listener.h"
#include "core/net/tls_context.h"
#include "core/net/tls_session.h"
#include "core/net/ws_driver.h"
#include "core/runtime/access_log.h"

namespace ringcast {

ConnectionTable::ConnectionTable(Reactor& reactor, const Config& config, ShardStats& stats)
    : reactor_(reactor), config_(config), stats_(stats), admission_(reactor, *this, config, stats) {
  reactor_.Register(Op::kAccept, &ConnectionTable::OnAcceptCqe, this);
  for (Op op : {Op::kRecv, Op::kSend, Op::kShutdownWrite}) {
    reactor_.Register(op, &ConnectionTable::OnConnCqe, this);
  }
}

ConnectionTable::~ConnectionTable() {
  for (Connection* conn : slots_) delete conn;
  for (SendBatch* batch : batches_) delete batch;
  for (const Listening& listener : listeners_) {
    if (listener.fd >= 0) close(listener.fd);
  }
}

int ConnectionTable::Setup() {
  const uint32_t id = reactor_.id();
  if (config_.direct_descriptors) {
    // Each ring's fixed file table is independent of the process fd table (it is only capped by
    // RLIMIT_NOFILE), so N shards can hold N times the process fd limit.
    int rc = io_uring_register_files_sparse(reactor_.ring().raw(), config_.max_connections);
    if (rc < 0) {
      RC_LOG(kError,
             "shard %u: cannot register a fixed file table of %u entries: %s (lower "
             "--max-connections to the open-file limit, or --no-direct-descriptors)",
             id, config_.max_connections, strerror(-rc));
      return rc;
    }
  }
  const uint32_t listeners = tls_context_ != nullptr ? 2 : 1;
  peers_.Choose(config_.direct_descriptors, listeners);
  ListenerOptions options{
      .reuse_port = true, .no_delay = true, .backlog = SOMAXCONN, .what = "--host, --port"};
  listeners_[kCleartext].fd = OpenListener(config_.host, config_.port, options);
  if (listeners_[kCleartext].fd < 0) return listeners_[kCleartext].fd;
  if (tls_context_ != nullptr) {
    options.what = "--host, --tls-port";
    listeners_[kTls].fd = OpenListener(config_.host, config_.tls_port, options);
    if (listeners_[kTls].fd < 0) return listeners_[kTls].fd;
    tls_plaintext_.resize(16 * 1024);                // TLS's largest record.
    tls_sessions_.reserve(config_.max_connections);  // Address space, as for slots_.
  }
  // Address space only: pages are touched as slots are used, and the tables never move.
  slots_.reserve(config_.max_connections);
  generations_.reserve(config_.max_connections);
  for (uint32_t listener = 0; listener < listeners; ++listener) ArmAccepts(listener);
  return 0;
}

// ---- Accept ----------------------------------------------------------------------------------

uint32_t ConnectionTable::AcceptsWanted() const {
  const size_t addressed = peers_.addressed_accepts_count();
  return addressed == 0 ? 1 : static_cast<uint32_t>(addressed / (tls_context_ != nullptr ? 2 : 1));
}

void ConnectionTable::ArmAccepts(uint32_t listener) {
  auto& addressed = peers_.addressed_accepts();
  if (!addressed.empty()) {
    const uint32_t per_listener = AcceptsWanted();
    for (uint32_t entry = listener * per_listener; entry < (listener + 1) * per_listener; ++entry) {
      if (!addressed[entry].armed) ArmAddressedAccept(listener, entry);
    }
    return;
  }
  io_uring_sqe* sqe = reactor_.GetSqe();
  const int fd = listeners_[listener].fd;
  if (config_.direct_descriptors) {
    // Multishot accept (5.19) into a kernel-chosen free slot of the fixed file table.
    io_uring_prep_multishot_accept_direct(sqe, fd, nullptr, nullptr, 0);
  } else {
    io_uring_prep_multishot_accept(sqe, fd, nullptr, nullptr, SOCK_CLOEXEC);
  }
  io_uring_sqe_set_data64(sqe, MakeTag(Op::kAccept, AcceptTag(listener, 0)));
  listeners_[listener].accepts_armed = 1;
}

void ConnectionTable::ArmAddressedAccept(uint32_t listener, uint32_t entry) {
  PeerAddresses::AddressedAccept& accept = peers_.addressed_accepts()[entry];
  accept.size = sizeof(accept.address);
  io_uring_sqe* sqe = reactor_.GetSqe();
  // Single-shot accept (5.5) into a kernel-chosen free slot of the fixed file table (5.19).
  // liburing 2.3 stores file_index + 1 without special-casing IORING_FILE_INDEX_ALLOC (later
  // versions do), so ALLOC - 1 is what makes the field IORING_FILE_INDEX_ALLOC.
  io_uring_prep_accept_direct(sqe, listeners_[listener].fd,
                              reinterpret_cast<sockaddr*>(&accept.address), &accept.size, 0,
                              IORING_FILE_INDEX_ALLOC - 1);
  io_uring_sqe_set_data64(sqe, MakeTag(Op::kAccept, AcceptTag(listener, entry)));
  accept.armed = true;
  ++listeners_[listener].accepts_armed;
}

void ConnectionTable::OnAcceptCqe(void* self, const io_uring_cqe& cqe) {
  static_cast<ConnectionTable*>(self)->OnAccept(ParseTag(cqe.user_data).slot, cqe.res, cqe.flags);
}

void ConnectionTable::OnAccept(uint32_t tag, int32_t result, uint32_t flags) {
  const uint32_t listener = tag >> 16;
  const uint32_t entry = tag & 0xFFFF;
  bool more = flags & IORING_CQE_F_MORE;
  auto& addressed = peers_.addressed_accepts();
  if (!more) {
    --listeners_[listener].accepts_armed;
    if (!addressed.empty()) addressed[entry].armed = false;
  }
  if (result < 0) {
    // ENFILE: the fixed file table is full; OnTick re-arms on the next tick.
    if (result != -ECANCELED && reactor_.WarnAllowed()) {
      RC_LOG(kWarn, "shard %u: accept failed: %s", reactor_.id(), strerror(-result));
    }
    return;
  }
  const bool stopping = reactor_.stopping();
  Connection* conn = stopping ? nullptr : Open(result);
  // Read the address before re-arming: the next accept on this entry overwrites it.
  if (conn != nullptr && !addressed.empty()) peers_.Record(*conn, addressed[entry]);
  if (!more && !stopping) {
    addressed.empty() ? ArmAccepts(listener) : ArmAddressedAccept(listener, entry);
  }
  if (conn == nullptr) return CloseDescriptor(result);
  admission_.Admit(*conn, peers_.Peer(*conn), listener == kTls);
}

void ConnectionTable::Admitted(Connection& conn) {
  if (admission_.tls(conn)) {
    tls_sessions_[conn.slot()] =
        std::make_unique<TlsSession>(tls_context_->NewSession(), TlsSession::Role::kServer);
    ++stats_.tls_open;
  }
  ArmRecv(conn);
}

void ConnectionTable::Refuse(Connection& conn) {
  if (admission_.tls(conn)) return Abort(conn);
  HttpExchange::WriteError(conn, false, 429,
                           "too many connections from this address (--max-conns-per-ip)");
  // Read only once our answer and FIN are out (Flush), to learn of the client's EOF.
  FinishAfterFlush(conn);
}

void ConnectionTable::OnTick() {
  if (reactor_.stopping()) return;
  for (uint32_t listener = 0; listener < 2; ++listener) {
    if (listeners_[listener].fd >= 0 && listeners_[listener].accepts_armed < AcceptsWanted()) {
      ArmAccepts(listener);
    }
  }
}

void ConnectionTable::StopAccepting() {
  for (uint32_t listener = 0; listener < 2; ++listener) {
    if (listeners_[listener].fd < 0) continue;
    for (uint32_t index = 0; index < AcceptsWanted(); ++index) {
      // Matched by user_data: the listening fd is closed below, before this is submitted.
      const uint32_t entry =
          peers_.addressed_accepts().empty() ? 0 : listener * AcceptsWanted() + index;
      io_uring_sqe* sqe = reactor_.GetSqe();
      io_uring_prep_cancel64(sqe, MakeTag(Op::kAccept, AcceptTag(listener, entry)), 0);
      io_uring_sqe_set_data64(sqe, MakeTag(Op::kIgnore));
    }
    // The armed accept holds its own reference; the socket stops listening once that ends.
    close(listeners_[listener].fd);
    listeners_[listener].fd = -1;
  }
}

// ---- Slots -----------------------------------------------------------------------------------

Connection* ConnectionTable::Open(int fd) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else if (slots_.size() < config_.max_connections) {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.push_back(nullptr);
    generations_.push_back(0);
  } else {
    ++stats_.refused_max_connections;
    if (reactor_.WarnAllowed()) {
      RC_LOG(kWarn, "shard %u: connection limit (%u) reached, refusing", reactor_.id(),
             config_.max_connections);
    }
    return nullptr;
  }
  uint32_t generation = ++generations_[slot] & 0xFFFFFF;
  auto* conn = new Connection(slot, generation, fd, config_.max_message_size);
  if (tls_context_ != nullptr && tls_sessions_.size() < slots_.size()) {
    tls_sessions_.resize(slots_.size());  // Grows with slots_ (a new slot was just added).
  }
  slots_[slot] = conn;
  ++live_;
  ++stats_.accepted;
  conn->set_last_receive_tick(reactor_.now());
  ScheduleTimer(*conn, reactor_.now() + Reactor::SecondsToTicks(config_.handshake_timeout_s));
  return conn;
}

Connection* ConnectionTable::Find(ConnId id) {
  if (id.shard != reactor_.id() || id.slot >= slots_.size()) return nullptr;
  Connection* conn = slots_[id.slot];
  if (conn == nullptr || conn->generation() != id.generation) return nullptr;
  return conn->state() == Connection::State::kClosed ? nullptr : conn;
}

void ConnectionTable::Release() {
  for (Connection* conn : release_list_) {
    CHECK(conn->state() == Connection::State::kClosed);
    stats_.CountClosed(conn->close_reason(), conn->close_code());
    uint32_t slot = conn->slot();
    if (TlsOf(*conn) != nullptr) {
      tls_sessions_[slot].reset();
      --stats_.tls_open;
    }
    if (access_log_) access_log_->OnRelease(slot, conn->generation());
    peers_.Forget(*conn);
    admission_.Release(*conn);
    delete conn;
    slots_[slot] = nullptr;
    free_slots_.push_back(slot);
    --live_;
  }
  release_list_.clear();
}

void ConnectionTable::MaybeRelease(Connection& conn) {
  const Connection::Io& io = conn.io();
  if (conn.state() != Connection::State::kClosed || io.recv_armed || io.send_in_flight ||
      io.shutdown_in_flight || io.release_queued) {
    return;
  }
  conn.io().release_queued = true;
  release_list_.push_back(&conn);
}

// ---- Close -----------------------------------------------------------------------------------

void ConnectionTable::FinishAfterFlush(Connection& conn) {
  if (conn.state() == Connection::State::kDraining || conn.state() == Connection::State::kClosed) {
    return;
  }
  if (conn.state() != Connection::State::kClosing) {
    conn.set_state(Connection::State::kClosing);
    ScheduleTimer(conn, reactor_.now() + Reactor::SecondsToTicks(config_.close_timeout_s));
  }
  conn.io().close_after_flush = true;
  MarkForFlush(conn);
}

void ConnectionTable::Abort(Connection& conn) {
  if (conn.state() == Connection::State::kClosed) return;
  http_->OnAbort(conn);
  ws_->Leave(conn);
  conn.set_state(Connection::State::kClosed);
  reactor_.timers().Cancel(conn.timer());
  if (conn.io().recv_armed) Cancel(Op::kRecv, conn);
  if (conn.io().send_in_flight) Cancel(Op::kSend, conn);
  if (conn.io().shutdown_in_flight) {
    Cancel(Op::kShutdownWrite, conn);  // Its completion closes the descriptor.
    return;
  }
  CloseDescriptor(conn.fd());
  // Nothing in flight (a connection refused or closed before its admission armed a receive):
  // no completion is coming to free the slot.
  MaybeRelease(conn);
}

void ConnectionTable::Cancel(Op op, const Connection& conn) {
  io_uring_sqe* sqe = reactor_.GetSqe();
  io_uring_prep_cancel64(sqe, MakeTag(op, conn.slot(), conn.generation()), 0);  // 5.19.
  io_uring_sqe_set_data64(sqe, MakeTag(Op::kIgnore));  // -ENOENT when it completed first.
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

void ConnectionTable::CancelSend(Connection& conn) {
  if (conn.io().send_in_flight) Cancel(Op::kSend, conn);
}

void ConnectionTable::CancelRecv(Connection& conn) {
  // The multishot receive ends with -ECANCELED (OnRecv re-arms it then unless the body is still
  // paused); what the kernel had already received still arrives first.
  if (conn.io().recv_armed) Cancel(Op::kRecv, conn);
}

void ConnectionTable::CloseDescriptor(int fd) {
  io_uring_sqe* sqe = reactor_.GetSqe();
  if (config_.direct_descriptors) {
    io_uring_prep_close_direct(sqe, fd);
  } else {
    io_uring_prep_close(sqe, fd);
  }
  io_uring_sqe_set_data64(sqe, MakeTag(Op::kIgnore));
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

// ---- Timers ----------------------------------------------------------------------------------

void ConnectionTable::ScheduleTimer(Connection& conn, uint64_t deadline) {
  reactor_.timers().Schedule(conn.timer(), deadline);
}

void ConnectionTable::OnTimer(TimerEntry* entry) {
  Connection& conn = Connection::FromTimer(entry);
  switch (conn.state()) {
    case Connection::State::kHttp:
      return http_->OnTimer(conn);
    case Connection::State::kWebSocket:
    case Connection::State::kClosing:
      return ws_->OnTimer(conn);
    case Connection::State::kDraining:
      return Abort(conn);  // The peer did not finish the close handshake in time.
    case Connection::State::kClosed:
      return;
  }
}

}  // namespace ringcast
