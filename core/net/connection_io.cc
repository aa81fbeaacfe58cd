// ConnectionTable: receive and send (connection_table.cc has slots, accept and close).
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "core/log.h"
#include "core/net/connection_table.h"
#include "core/net/http_driver.h"
#include "core/net/tls_session.h"
#include "core/net/ws_driver.h"
#include "core/runtime/access_log.h"

namespace ringcast {

void ConnectionTable::OnConnCqe(void* context, const io_uring_cqe& cqe) {
  auto& self = *static_cast<ConnectionTable*>(context);
  const OpTag tag = ParseTag(cqe.user_data);
  Connection* conn = tag.slot < self.slots_.size() ? self.slots_[tag.slot] : nullptr;
  if (conn == nullptr || (conn->generation() & 0xFFFFFF) != tag.generation) {
    // Cannot happen while slots outlive their operations; recycle a buffer all the same.
    if (cqe.flags & IORING_CQE_F_BUFFER) {
      self.reactor_.buffers().Recycle(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
    }
    RC_LOG(kWarn, "shard %u: completion for a released connection (op %d)", self.reactor_.id(),
           int(tag.op));
    return;
  }
  switch (tag.op) {
    case Op::kRecv:
      self.OnRecv(*conn, cqe.res, cqe.flags);
      break;
    case Op::kSend:
      self.OnSend(*conn, cqe.res);
      break;
    default:
      self.OnShutdownWrite(*conn, cqe.res);
      break;
  }
  self.MaybeRelease(*conn);
}

void ConnectionTable::MarkForFlush(Connection& conn) {
  if (conn.io().flush_queued) return;
  conn.io().flush_queued = true;
  flush_list_.push_back(&conn);
}

void ConnectionTable::RearmRecv(Connection& conn) {
  if (conn.io().recv_armed) return;
  conn.io().recv_rearm = true;
  MarkForFlush(conn);
}

void ConnectionTable::Flush() {
  for (size_t i = 0; i < flush_list_.size(); ++i) {
    Connection& conn = *flush_list_[i];
    Connection::Io& io = conn.io();
    io.flush_queued = false;
    if (conn.state() == Connection::State::kClosed) continue;
    if (io.recv_rearm && !io.recv_armed && !io.body_paused) ArmRecv(conn);
    io.recv_rearm = false;
    if (io.send_in_flight) continue;
    TlsSession* tls = TlsOf(conn);
    if (tls != nullptr && io.close_after_flush && conn.send_queue().empty()) {
      tls->CloseNotify();  // Once: TLS's own end of stream, before TCP's.
    }
    if (!conn.send_queue().empty() || (tls != nullptr && tls->has_output())) {
      StartSend(conn);
    } else if (io.close_after_flush && conn.state() == Connection::State::kClosing) {
      // Our last bytes are out: send FIN, then read until the peer's EOF so that closing never
      // resets a connection whose peer has not yet read our close frame (RFC 6455 §7.1.1).
      io_uring_sqe* sqe = reactor_.GetSqe();
      io_uring_prep_shutdown(sqe, conn.fd(), SHUT_WR);  // IORING_OP_SHUTDOWN, 5.11.
      if (config_.direct_descriptors) sqe->flags |= IOSQE_FIXED_FILE;
      io_uring_sqe_set_data64(sqe, MakeTag(Op::kShutdownWrite, conn.slot(), conn.generation()));
      // Tracked until it completes: io_uring runs shutdown on an io-wq worker, later, and looks
      // the descriptor up then. Closing meanwhile would free the descriptor for the next accept,
      // whose write side the late shutdown would then cut.
      io.shutdown_in_flight = true;
      conn.set_state(Connection::State::kDraining);
      // Refused at accept (AddressAdmission), it has not been reading; now it reads to EOF.
      if (!io.recv_armed && !io.body_paused) ArmRecv(conn);
    }
  }
  flush_list_.clear();
}

void ConnectionTable::OnShutdownWrite(Connection& conn, int32_t result) {
  conn.io().shutdown_in_flight = false;
  if (conn.state() == Connection::State::kClosed) {
    CloseDescriptor(conn.fd());  // Abort waited for the shutdown.
  } else if (result < 0) {
    Abort(conn);
  }
}

void ConnectionTable::ArmRecv(Connection& conn) {
  io_uring_sqe* sqe = reactor_.GetSqe();
  // Multishot recv (6.0) from the provided-buffer group: no buffer is tied to an idle socket.
  io_uring_prep_recv_multishot(sqe, conn.fd(), nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  if (config_.direct_descriptors) sqe->flags |= IOSQE_FIXED_FILE;
  sqe->buf_group = reactor_.buffers().group_id();
  io_uring_sqe_set_data64(sqe, MakeTag(Op::kRecv, conn.slot(), conn.generation()));
  conn.io().recv_armed = true;
}

void ConnectionTable::OnRecv(Connection& conn, int32_t result, uint32_t flags) {
  Connection::Io& io = conn.io();
  if (!(flags & IORING_CQE_F_MORE)) io.recv_armed = false;
  if (result > 0) {
    if (access_log_) access_log_->OnBytes(conn.slot(), conn.generation(), result, 0);
    stats_.bytes_received += uint64_t(result);
    uint16_t buffer_id = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    std::span<uint8_t> data(reactor_.buffers().Buffer(buffer_id), static_cast<size_t>(result));
    io.ping_outstanding = false;
    if (TlsOf(conn) != nullptr) {
      ReceiveTls(conn, data);
    } else {
      Deliver(conn, data);
    }
    reactor_.buffers().Recycle(buffer_id);
    if (!io.recv_armed && conn.state() != Connection::State::kClosed) {
      io.recv_rearm = true;
      MarkForFlush(conn);
    }
    return;
  }
  if (result == -ENOBUFS) {  // Every buffer is in use: re-arm once this iteration recycles some.
    if (conn.state() != Connection::State::kClosed) {
      io.recv_rearm = true;
      MarkForFlush(conn);
    }
    return;
  }
  if (conn.state() == Connection::State::kClosed) return;
  if (result == -ECANCELED) {
    // CancelRecv's (a paused body); re-armed here when the body was resumed before it completed.
    if (!io.recv_armed && !io.body_paused) {
      io.recv_rearm = true;
      MarkForFlush(conn);
    }
    return;
  }
  // EOF or a socket error: the peer is gone (or has finished the close handshake).
  if (result < 0 && result != -ECONNRESET) {
    RC_LOG(kDebug, "shard %u: recv failed: %s", reactor_.id(), strerror(-result));
  }
  Abort(conn);
}

void ConnectionTable::Deliver(Connection& conn, std::span<uint8_t> data) {
  switch (conn.state()) {
    case Connection::State::kHttp:
      http_->OnData(conn, data);
      break;
    case Connection::State::kWebSocket:
    case Connection::State::kClosing:
      conn.set_last_receive_tick(reactor_.now());
      ws_->OnData(conn, data);
      break;
    case Connection::State::kDraining:
    case Connection::State::kClosed:
      break;  // Discarded: we are only waiting for EOF.
  }
}

// ---- TLS (tls_session.h) ---------------------------------------------------------------------

void ConnectionTable::ReceiveTls(Connection& conn, std::span<const uint8_t> ciphertext) {
  TlsSession& tls = *TlsOf(conn);
  // Failed: its alert is on its way. Draining: our close is out. Either way nothing more is read.
  if (tls.failed() || conn.state() == Connection::State::kDraining ||
      conn.state() == Connection::State::kClosed) {
    return;
  }
  const bool was_established = tls.established();
  tls.Feed(ciphertext);
  for (;;) {
    size_t read = 0;
    const TlsSession::Result result = tls.Read(tls_plaintext_, &read);
    if (result == TlsSession::Result::kData) {
      Deliver(conn, {tls_plaintext_.data(), read});
      if (conn.state() == Connection::State::kDraining ||
          conn.state() == Connection::State::kClosed) {
        break;
      }
      continue;
    }
    if (result == TlsSession::Result::kClosed) {
      Abort(conn);  // close_notify: as the peer's EOF.
    } else if (result == TlsSession::Result::kFailed) {
      OnTlsFailure(conn);
    }
    break;
  }
  tls.EndFeed();
  if (!was_established && tls.established()) ++stats_.tls_handshakes;
  if (tls.has_output() && conn.state() != Connection::State::kClosed) MarkForFlush(conn);
}

void ConnectionTable::OnTlsFailure(Connection& conn) {
  TlsSession& tls = *TlsOf(conn);
  if (!tls.established()) ++stats_.tls_handshake_failures;
  RC_LOG(kDebug, "shard %u: TLS %s: %.*s", reactor_.id(),
         tls.established() ? "error" : "handshake failed", int(tls.failure().size()),
         tls.failure().data());
  if (tls.plain_http()) {
    // A browser or curl sent http:// to the TLS port: say so in words it can show, as nginx
    // does, rather than an alert it shows as a garbled page.
    static constexpr std::string_view kBody = "This port speaks TLS: use https:// or wss://.\n";
    tls.AppendRaw(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
        "Content-Length: " +
        std::to_string(kBody.size()) + "\r\n\r\n" + std::string(kBody));
  }
  // A record that fails after the handshake (a bad MAC: corruption or an attack) ends the
  // connection at once, as a reset would; its drivers hear of it as of any abort.
  if (tls.established()) return Abort(conn);
  // A failed handshake delivered nothing to a driver. Its alert (or the answer) goes out, then
  // FIN, then the peer's EOF or the close timeout.
  FinishAfterFlush(conn);
}

void ConnectionTable::EncryptQueued(Connection& conn) {
  // One batch at a time: what is not yet encrypted stays queued as plaintext, where it counts
  // against --max-outbound-bytes and a cut-off can still drop it.
  static constexpr size_t kBatchBytes = 64 * 1024;
  TlsSession& tls = *TlsOf(conn);
  SendQueue& queue = conn.send_queue();
  iovec iov[SendBatch::kMaxIov];
  const uint32_t count = queue.BeginSend(iov, SendBatch::kMaxIov);
  // Small frames (a fan-out's) are gathered into full records: a record per frame would cost
  // its header, tag and cipher setup for every few bytes. The scratch is free here: it only
  // holds plaintext during a receive.
  std::span<uint8_t> gather(tls_plaintext_);
  size_t gathered = 0;
  size_t taken = 0;
  for (uint32_t i = 0; i < count && taken < kBatchBytes; ++i) {
    std::span<const uint8_t> piece(static_cast<const uint8_t*>(iov[i].iov_base),
                                   std::min(iov[i].iov_len, kBatchBytes - taken));
    taken += piece.size();
    while (!piece.empty()) {
      if (gathered == 0 && piece.size() >= gather.size()) {
        tls.Encrypt(piece);  // Already whole records' worth: no copy.
        break;
      }
      const size_t n = std::min(piece.size(), gather.size() - gathered);
      std::memcpy(gather.data() + gathered, piece.data(), n);
      gathered += n;
      piece = piece.subspan(n);
      if (gathered == gather.size()) {
        tls.Encrypt(gather);
        gathered = 0;
      }
    }
  }
  if (gathered > 0) tls.Encrypt(gather.first(gathered));
  queue.Consume(taken);
}

void ConnectionTable::StartSend(Connection& conn) {
  if (TlsSession* tls = TlsOf(conn)) {
    std::span<const uint8_t> records = tls->BeginSend();
    if (records.empty() && tls->established() && !tls->failed() && !conn.send_queue().empty()) {
      EncryptQueued(conn);
      records = tls->BeginSend();
    }
    if (records.empty()) return;  // Plaintext before the handshake waits for it.
    io_uring_sqe* sqe = reactor_.GetSqe();
    io_uring_prep_send(sqe, conn.fd(), records.data(), records.size(), MSG_NOSIGNAL);
    if (config_.direct_descriptors) sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, MakeTag(Op::kSend, conn.slot(), conn.generation()));
    conn.io().send_in_flight = true;
    ++stats_.socket_sends;
    return;
  }
  io_uring_sqe* sqe = reactor_.GetSqe();
  SendQueue& queue = conn.send_queue();
  // Everything queued since the last send goes out in one call ("corking").
  if (queue.count() == 1) {
    iovec one;
    queue.BeginSend(&one, 1);
    io_uring_prep_send(sqe, conn.fd(), one.iov_base, one.iov_len, MSG_NOSIGNAL);
  } else {
    SendBatch* batch;
    if (spare_batches_.empty()) {
      batch = new SendBatch;
    } else {
      batch = spare_batches_.back().release();
      spare_batches_.pop_back();
    }
    std::memset(&batch->msg, 0, sizeof(batch->msg));
    batch->msg.msg_iov = batch->iov;
    batch->msg.msg_iovlen = queue.BeginSend(batch->iov, SendBatch::kMaxIov);
    if (batches_.size() <= conn.slot()) batches_.resize(conn.slot() + 1, nullptr);
    batches_[conn.slot()] = batch;
    io_uring_prep_sendmsg(sqe, conn.fd(), &batch->msg, MSG_NOSIGNAL);
  }
  if (config_.direct_descriptors) sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, MakeTag(Op::kSend, conn.slot(), conn.generation()));
  conn.io().send_in_flight = true;
  ++stats_.socket_sends;
}

void ConnectionTable::OnSend(Connection& conn, int32_t result) {
  Connection::Io& io = conn.io();
  io.send_in_flight = false;
  if (conn.slot() < batches_.size() && batches_[conn.slot()] != nullptr) {
    spare_batches_.emplace_back(batches_[conn.slot()]);
    batches_[conn.slot()] = nullptr;
  }
  // The send Connection::CutOff cancelled: without MSG_WAITALL a send completes as soon as it
  // has written anything, so a cancelled one wrote nothing.
  if (io.close_frame_pending && result == -ECANCELED) result = 0;
  if (result < 0) {
    if (result != -ECANCELED && result != -EPIPE && result != -ECONNRESET) {
      RC_LOG(kDebug, "shard %u: send failed: %s", reactor_.id(), strerror(-result));
    }
    Abort(conn);
    return;
  }
  if (access_log_) access_log_->OnBytes(conn.slot(), conn.generation(), 0, result);
  stats_.bytes_sent += uint64_t(result);
  if (result > 0) conn.set_last_send_tick(reactor_.now());
  if (conn.state() == Connection::State::kClosed) return;
  if (TlsSession* tls = TlsOf(conn)) {
    tls->Sent(size_t(result));  // Its plaintext left the queue when it was encrypted.
  } else {
    conn.send_queue().Consume(static_cast<uint64_t>(result));  // A short write leaves the rest.
  }
  if (io.close_frame_pending) {
    // Cut off as a slow consumer: now that the kernel's part is known, drop every frame it has
    // none of, and end the stream with the rest of the one it has part of and the close frame.
    io.close_frame_pending = false;
    conn.send_queue().DropUnstarted();
    conn.QueueBytes(SharedFrame::EncodeClose(uint16_t(ws::CloseCode::kPolicyViolation),
                                             Connection::kSlowConsumerReason));
  }
  if (!conn.send_queue().empty() || io.close_after_flush ||
      (TlsOf(conn) != nullptr && TlsOf(conn)->has_output())) {
    MarkForFlush(conn);
  }
  if (!io.drain_wanted || conn.congested()) return;
  if (io.answer_streaming) {
    http_->OnWritable(conn);  // A streamed answer's source produces its next bytes.
  } else if (conn.state() == Connection::State::kWebSocket) {
    ws_->OnDrained(conn);  // May queue more: the flush above or this marks it.
  }
}

}  // namespace ringcast
