// Shard: the connection side of the loop (accept, receive, send, timers, close).
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/runtime/shard.h"

namespace ringcast {

void Shard::ArmAccept() {
  if (!addressed_accepts_.empty()) {
    for (uint32_t index = 0; index < addressed_accepts_.size(); ++index) {
      if (!addressed_accepts_[index].armed) ArmAddressedAccept(index);
    }
    return;
  }
  io_uring_sqe* sqe = ring_.GetSqe();
  if (config_.direct_descriptors) {
    // Multishot accept (5.19) into a kernel-chosen free slot of the fixed file table.
    io_uring_prep_multishot_accept_direct(sqe, listen_fd_, nullptr, nullptr, 0);
  } else {
    io_uring_prep_multishot_accept(sqe, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  }
  io_uring_sqe_set_data64(sqe, Tag(Op::kAccept));
  accepts_armed_ = 1;
}

void Shard::OnAccept(uint32_t index, int32_t result, uint32_t flags) {
  bool more = flags & IORING_CQE_F_MORE;
  bool addressed = !addressed_accepts_.empty();
  if (!more) {
    --accepts_armed_;
    if (addressed) addressed_accepts_[index].armed = false;
  }
  if (result < 0) {
    // ENFILE: the fixed file table is full; AdvanceTimers re-arms on the next tick.
    if (result != -ECANCELED && WarnAllowed()) {
      RC_LOG(kWarn, "shard %u: accept failed: %s", id_, strerror(-result));
    }
    return;
  }
  Connection* conn = stopping_ ? nullptr : Open(result);
  // Read the address before re-arming: the next accept on this entry overwrites it.
  if (conn != nullptr && addressed) RecordPeer(*conn, addressed_accepts_[index]);
  if (!more && !stopping_) addressed ? ArmAddressedAccept(index) : ArmAccept();
  if (conn == nullptr) {
    io_uring_sqe* sqe = ring_.GetSqe();
    if (config_.direct_descriptors) {
      io_uring_prep_close_direct(sqe, result);
    } else {
      io_uring_prep_close(sqe, result);
    }
    io_uring_sqe_set_data64(sqe, Tag(Op::kIgnore));
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  }
}

Connection* Shard::Open(int fd) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else if (slots_.size() < config_.max_connections) {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.push_back(nullptr);
    generations_.push_back(0);
  } else {
    if (WarnAllowed()) {
      RC_LOG(kWarn, "shard %u: connection limit (%u) reached, refusing", id_,
             config_.max_connections);
    }
    return nullptr;
  }
  uint32_t generation = ++generations_[slot] & 0xFFFFFF;
  auto* conn = new Connection(slot, generation, fd, config_.max_message_size);
  slots_[slot] = conn;
  ++live_connections_;
  ++stats_.accepted;
  conn->last_receive_tick_ = static_cast<uint32_t>(timers_.now());
  ScheduleTimer(*conn, timers_.now() + SecondsToTicks(config_.handshake_timeout_s));
  ArmRecv(*conn);
  return conn;
}

Connection* Shard::Find(ConnId id) {
  if (id.shard != id_ || id.slot >= slots_.size()) return nullptr;
  Connection* conn = slots_[id.slot];
  if (conn == nullptr || conn->generation_ != id.generation) return nullptr;
  return conn->state_ == Connection::State::kClosed ? nullptr : conn;
}

void Shard::ArmRecv(Connection& conn) {
  io_uring_sqe* sqe = ring_.GetSqe();
  // Multishot recv (6.0) from the provided-buffer group: no buffer is tied to an idle socket.
  io_uring_prep_recv_multishot(sqe, conn.fd_, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  if (config_.direct_descriptors) sqe->flags |= IOSQE_FIXED_FILE;
  sqe->buf_group = buffers_.group_id();
  io_uring_sqe_set_data64(sqe, Tag(Op::kRecv, conn.slot_, conn.generation_));
  conn.recv_armed_ = true;
}

void Shard::OnRecv(Connection& conn, int32_t result, uint32_t flags) {
  if (!(flags & IORING_CQE_F_MORE)) conn.recv_armed_ = false;
  if (result > 0) {
    if (access_log_) access_log_->OnBytes(conn.slot_, conn.generation_, result, 0);
    stats_.bytes_received += uint64_t(result);
    uint16_t buffer_id = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    std::span<uint8_t> data(buffers_.Buffer(buffer_id), static_cast<size_t>(result));
    conn.ping_outstanding_ = false;
    switch (conn.state_) {
      case Connection::State::kHttp:
        HandleHttp(conn, data);
        break;
      case Connection::State::kWebSocket:
      case Connection::State::kClosing:
        conn.last_receive_tick_ = static_cast<uint32_t>(timers_.now());
        HandleWebSocket(conn, data);
        break;
      case Connection::State::kDraining:
      case Connection::State::kClosed:
        break;  // Discarded: we are only waiting for EOF.
    }
    buffers_.Recycle(buffer_id);
    if (!conn.recv_armed_ && conn.state_ != Connection::State::kClosed) {
      conn.recv_rearm_ = true;
      MarkForFlush(conn);
    }
    return;
  }
  if (result == -ENOBUFS) {  // Every buffer is in use: re-arm once this iteration recycles some.
    if (conn.state_ != Connection::State::kClosed) {
      conn.recv_rearm_ = true;
      MarkForFlush(conn);
    }
    return;
  }
  if (conn.state_ == Connection::State::kClosed) return;
  if (result == -ECANCELED) {
    // PauseBody's cancel; re-armed here when the body was resumed before it completed.
    if (!conn.recv_armed_ && !conn.body_paused_) {
      conn.recv_rearm_ = true;
      MarkForFlush(conn);
    }
    return;
  }
  // EOF or a socket error: the peer is gone (or has finished the close handshake).
  if (result < 0 && result != -ECONNRESET) {
    RC_LOG(kDebug, "shard %u: recv failed: %s", id_, strerror(-result));
  }
  Abort(conn);
}

bool Shard::WarnAllowed() {
  // At most one of these warnings a second per shard: a flood of refused connections must not
  // become a flood of log lines.
  if (timers_.now() < next_warning_tick_) return false;
  next_warning_tick_ = timers_.now() + SecondsToTicks(1);
  return true;
}

void Shard::MarkForFlush(Connection& conn) {
  if (conn.flush_queued_) return;
  conn.flush_queued_ = true;
  flush_list_.push_back(&conn);
}

void Shard::StartSend(Connection& conn) {
  io_uring_sqe* sqe = ring_.GetSqe();
  // Everything queued since the last send goes out in one call ("corking").
  if (conn.send_queue_.count() == 1) {
    iovec one;
    conn.send_queue_.BeginSend(&one, 1);
    io_uring_prep_send(sqe, conn.fd_, one.iov_base, one.iov_len, MSG_NOSIGNAL);
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
    batch->msg.msg_iovlen = conn.send_queue_.BeginSend(batch->iov, SendBatch::kMaxIov);
    if (batches_.size() <= conn.slot_) batches_.resize(conn.slot_ + 1, nullptr);
    batches_[conn.slot_] = batch;
    io_uring_prep_sendmsg(sqe, conn.fd_, &batch->msg, MSG_NOSIGNAL);
  }
  if (config_.direct_descriptors) sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, Tag(Op::kSend, conn.slot_, conn.generation_));
  conn.send_in_flight_ = true;
}

void Shard::OnSend(Connection& conn, int32_t result) {
  conn.send_in_flight_ = false;
  if (conn.slot_ < batches_.size() && batches_[conn.slot_] != nullptr) {
    spare_batches_.emplace_back(batches_[conn.slot_]);
    batches_[conn.slot_] = nullptr;
  }
  // The send Connection::CutOff cancelled: without MSG_WAITALL a send completes as soon as it
  // has written anything, so a cancelled one wrote nothing.
  if (conn.close_frame_pending_ && result == -ECANCELED) result = 0;
  if (result < 0) {
    if (result != -ECANCELED && result != -EPIPE && result != -ECONNRESET) {
      RC_LOG(kDebug, "shard %u: send failed: %s", id_, strerror(-result));
    }
    Abort(conn);
    return;
  }
  if (access_log_) access_log_->OnBytes(conn.slot_, conn.generation_, 0, result);
  stats_.bytes_sent += uint64_t(result);
  if (result > 0) conn.last_send_tick_ = static_cast<uint32_t>(timers_.now());
  if (conn.state_ == Connection::State::kClosed) return;
  conn.send_queue_.Consume(static_cast<uint64_t>(result));  // A short write leaves the rest.
  if (conn.close_frame_pending_) {
    // Cut off as a slow consumer: now that the kernel's part is known, drop every frame it has
    // none of, and end the stream with the rest of the one it has part of and the close frame.
    conn.close_frame_pending_ = false;
    conn.send_queue_.DropUnstarted();
    conn.QueueBytes(SharedFrame::EncodeClose(uint16_t(ws::CloseCode::kPolicyViolation),
                                             Connection::kSlowConsumerReason));
  }
  if (!conn.send_queue_.empty() || conn.close_after_flush_) MarkForFlush(conn);
  if (conn.drain_wanted_ && conn.answer_streaming_ && !conn.congested()) {
    OnWritableAgain(conn);  // A streamed answer's source produces its next bytes.
  } else if (conn.drain_wanted_ && !conn.congested() &&
             conn.state_ == Connection::State::kWebSocket) {
    conn.drain_wanted_ = false;
    conn.handler_->OnDrain(conn);  // May queue more: the flush above or this marks it.
  }
}

void Shard::LeaveWebSocket(Connection& conn) {
  // Deferred to the end of the iteration: the handler's OnClose may unsubscribe, and this can
  // run in the middle of a fan-out loop over the very subscriber list it would change.
  if (conn.handler_ == nullptr || conn.leave_queued_) return;
  if (access_log_) {  // While the handler still knows the connection (its OnClose forgets it).
    access_log_->OnUser(conn.slot_, conn.generation_, conn.handler_->AccessLogUser(conn));
  }
  conn.leave_queued_ = true;
  leave_list_.push_back(&conn);
}

void Shard::RunDeferredLeaves() {
  for (size_t i = 0; i < leave_list_.size(); ++i) {  // OnClose may queue more.
    Connection& conn = *leave_list_[i];
    WebSocketHandler* handler = conn.handler_;
    conn.handler_ = nullptr;
    handler->OnClose(conn);
  }
  leave_list_.clear();
}

void Shard::FinishAfterFlush(Connection& conn) {
  if (conn.state_ == Connection::State::kDraining || conn.state_ == Connection::State::kClosed) {
    return;
  }
  if (conn.state_ != Connection::State::kClosing) {
    conn.state_ = Connection::State::kClosing;
    ScheduleTimer(conn, timers_.now() + SecondsToTicks(config_.close_timeout_s));
  }
  conn.close_after_flush_ = true;
  MarkForFlush(conn);
}

void Shard::Abort(Connection& conn) {
  if (conn.state_ == Connection::State::kClosed) return;
  AbortStreams(conn);
  LeaveWebSocket(conn);
  conn.state_ = Connection::State::kClosed;
  timers_.Cancel(&conn);
  auto cancel = [&](Op op) {
    io_uring_sqe* sqe = ring_.GetSqe();
    io_uring_prep_cancel64(sqe, Tag(op, conn.slot_, conn.generation_), 0);
    io_uring_sqe_set_data64(sqe, Tag(Op::kIgnore));
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  };
  if (conn.recv_armed_) cancel(Op::kRecv);
  if (conn.send_in_flight_) cancel(Op::kSend);
  if (conn.shutdown_in_flight_) {
    cancel(Op::kShutdownWrite);  // Its completion closes the descriptor.
    return;
  }
  CloseDescriptor(conn);
}

void Shard::CancelSend(Connection& conn) {
  if (!conn.send_in_flight_) return;
  io_uring_sqe* sqe = ring_.GetSqe();
  io_uring_prep_cancel64(sqe, Tag(Op::kSend, conn.slot_, conn.generation_), 0);  // 5.19.
  io_uring_sqe_set_data64(sqe, Tag(Op::kIgnore));  // -ENOENT when the send completed first.
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

void Shard::CloseDescriptor(Connection& conn) {
  io_uring_sqe* sqe = ring_.GetSqe();
  if (config_.direct_descriptors) {
    io_uring_prep_close_direct(sqe, conn.fd_);
  } else {
    io_uring_prep_close(sqe, conn.fd_);
  }
  io_uring_sqe_set_data64(sqe, Tag(Op::kIgnore));
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

void Shard::MaybeRelease(Connection& conn) {
  if (conn.state_ != Connection::State::kClosed || conn.recv_armed_ || conn.send_in_flight_ ||
      conn.shutdown_in_flight_ || conn.release_queued_) {
    return;
  }
  conn.release_queued_ = true;
  release_list_.push_back(&conn);
}

void Shard::ScheduleTimer(Connection& conn, uint64_t deadline) {
  timers_.Schedule(&conn, deadline);
}

void Shard::OnTimer(Connection& conn) {
  uint64_t now = timers_.now();
  switch (conn.state_) {
    case Connection::State::kHttp: {
      // A request (the first, or the next on a keep-alive connection) must arrive complete
      // within the handshake timeout of the previous answer.
      uint64_t due = conn.last_receive_tick_ + SecondsToTicks(config_.handshake_timeout_s);
      // A body paused by its sink (the disk behind) is not the client's delay; nor is a
      // streamed answer, paced by the client's reads and its own --max-outbound-bytes.
      if (conn.body_paused_ || conn.answer_streaming_) due = now + SecondsToTicks(1);
      // But a client that takes no byte of a streamed answer (a download) for --idle-timeout
      // would hold its file, its queued pieces and its slot for as long as it keeps the
      // socket open: closed.
      if (conn.answer_streaming_ &&
          now >= uint64_t{conn.last_send_tick_} + SecondsToTicks(config_.idle_timeout_s)) {
        RC_LOG(kDebug, "shard %u: a streamed answer's client read nothing for --idle-timeout", id_);
        Abort(conn);
        break;
      }
      if (now < due) return ScheduleTimer(conn, due);
      RC_LOG(kDebug, "shard %u: HTTP request timed out", id_);
      // Part of a request arrived but not all of it: say so (RFC 9110 §15.5.9) before closing.
      // A connection that sent nothing (new, or idle after an answer) is closed silently, so a
      // client about to reuse it never reads a 408 for a request it has not sent yet; one whose
      // answer is deferred is waiting on us, not the client.
      if (!conn.awaiting_answer_ && conn.http_pending_ != nullptr && !conn.http_pending_->empty()) {
        conn.http_pending_.reset();
        ReplyHttpError(conn, 408, "request incomplete after --handshake-timeout");
        break;
      }
      Abort(conn);
      break;
    }
    case Connection::State::kWebSocket: {
      uint64_t idle = SecondsToTicks(config_.idle_timeout_s);
      uint64_t due = conn.last_receive_tick_ + idle;
      if (now < due) return ScheduleTimer(conn, due);
      if (!conn.ping_outstanding_) {
        conn.ping_outstanding_ = true;
        conn.QueueBytes(SharedFrame::EncodeMessage(ws::Opcode::kPing, {}));
        // The next check is one more idle interval after the ping.
        conn.last_receive_tick_ = static_cast<uint32_t>(now);
        return ScheduleTimer(conn, now + idle);
      }
      conn.Close(uint16_t(ws::CloseCode::kGoingAway), "idle timeout", CloseReason::kIdleTimeout);
      FinishAfterFlush(conn);
      break;
    }
    case Connection::State::kClosing: {
      // A slow consumer's close frame waits behind the rest of the frame the kernel has part of
      // (Connection::CutOff). Aborting now would end its byte stream mid-frame, so it is kept
      // while it reads on, until --idle-timeout passes without it taking a byte.
      if (conn.close_reason_ == CloseReason::kSlowConsumer && !conn.send_queue_.empty()) {
        const uint64_t due =
            uint64_t{conn.last_send_tick_} + SecondsToTicks(config_.idle_timeout_s);
        // Checked again within --close-timeout, which a drain that begins meanwhile then gets.
        if (now < due) {
          return ScheduleTimer(conn, std::min(due, now + SecondsToTicks(config_.close_timeout_s)));
        }
      }
      Abort(conn);  // The peer did not finish the close handshake in time.
      break;
    }
    case Connection::State::kDraining:
      Abort(conn);  // The peer did not finish the close handshake in time.
      break;
    case Connection::State::kClosed:
      break;
  }
}

}  // namespace ringcast
