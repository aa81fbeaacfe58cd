#include "core/net/connection.h"

#include <string>

#include "core/log.h"
#include "core/net/connection_table.h"
#include "core/net/ws_driver.h"
#include "core/runtime/shard.h"

namespace ringcast {

// Idle connections pay for this object alone (see connection.h).
static_assert(sizeof(Connection) <= 256, "Connection grew: check the idle-memory budget");

std::string_view CloseReasonName(CloseReason reason) {
  static constexpr std::string_view kNames[kCloseReasons] = {
      "http",          "connection_lost", "peer_closed", "server_closed",
      "slow_consumer", "idle_timeout",    "shutdown",    "protocol_error"};
  return kNames[size_t(reason)];
}

Shard& Connection::shard() const { return *Shard::Current(); }

ConnId Connection::id() const { return {shard().id(), slot_, generation_}; }

void Connection::QueueBytes(SharedFrame* frame) {
  if (state_ == State::kDraining || state_ == State::kClosed) {
    frame->Release();
    return;
  }
  send_queue_.Push(frame);
  shard().connections().MarkForFlush(*this);
}

bool Connection::congested() const {
  return send_queue_.bytes() >= shard().config().max_outbound_bytes / 2;
}

SendStatus Connection::Admit(Delivery delivery) {
  if (state_ != State::kWebSocket) return SendStatus::kNotOpen;
  uint64_t queued = send_queue_.bytes();
  if (delivery == Delivery::kDroppable && queued > kDroppableBacklog) {
    ++shard().stats().frames_dropped;
    return SendStatus::kDropped;
  }
  if (queued <= shard().config().max_outbound_bytes) return SendStatus::kQueued;
  CutOff();
  return SendStatus::kCutOff;
}

void Connection::CutOff() {
  // Slow-consumer policy: drop what this reader has not started to receive, tell it why with
  // 1008, and stop queueing for it. Memory stays bounded by the cap plus the one frame that
  // took the queue past it; others are unaffected.
  //
  // The close frame must follow the last byte the kernel took, not the frames a send in flight
  // still holds: a reader this far behind has the kernel's buffer full, and the send may never
  // take them (up to 64 frames). A connection aborted with them unsent would end mid-frame, and
  // its reader would never learn why. So a send in flight is cancelled, and the close frame is
  // queued when its completion says where the byte stream stands (ConnectionTable::OnSend): behind
  // the rest of the one frame the kernel has part of, if any.
  send_queue_.DropUnstarted();
  ++shard().stats().slow_consumers;
  const auto code = uint16_t(ws::CloseCode::kPolicyViolation);
  if (io_.send_in_flight) {
    BeginClose(code, CloseReason::kSlowConsumer);
    io_.close_frame_pending = true;
    shard().connections().CancelSend(*this);
  } else {
    Close(code, kSlowConsumerReason, CloseReason::kSlowConsumer);
  }
  shard().connections().FinishAfterFlush(*this);
}

SendStatus Connection::AfterQueue() const {
  return send_queue_.bytes() > shard().config().max_outbound_bytes ? SendStatus::kBackpressure
                                                                   : SendStatus::kQueued;
}

SendStatus Connection::SendFrame(SharedFrame* frame, Delivery delivery) {
  SendStatus status = Admit(delivery);
  if (status != SendStatus::kQueued) {
    frame->Release();
    return status;
  }
  // The frame's compressed form, made once per window size for all its recipients.
  if (deflate_window_bits_ != 0) {
    frame = shard().ws().compression().FormFor(frame, deflate_window_bits_);
  }
  QueueBytes(frame);
  if (AccessLog* log = shard().access_log()) {
    const uint8_t opcode = frame->size() > 0 ? frame->data()[0] & 0x0F : 0;
    if (opcode == uint8_t(ws::Opcode::kText) || opcode == uint8_t(ws::Opcode::kBinary)) {
      log->OnMessageOut(slot_, generation_);
    }
  }
  ++shard().stats().fanout_deliveries;
  return AfterQueue();
}

SendStatus Connection::SendMessage(ws::Opcode opcode, std::span<const uint8_t> payload) {
  return PushMessage(opcode, payload, nullptr);
}

SendStatus Connection::SendMessage(ws::Opcode opcode, const ws::MaskedPayload& payload) {
  return PushMessage(opcode, payload.bytes, payload.key);
}

SendStatus Connection::PushMessage(ws::Opcode opcode, std::span<const uint8_t> payload,
                                   const uint8_t* unmask_key) {
  SendStatus status = Admit(Delivery::kReliable);
  if (status != SendStatus::kQueued) return status;
  std::span<const uint8_t> compressed;
  if (deflate_window_bits_ != 0) {
    compressed =
        shard().ws().compression().Compress(opcode, payload, unmask_key, deflate_window_bits_);
  }
  if (!compressed.empty()) {
    send_queue_.PushMessage(opcode, compressed, nullptr, /*compressed=*/true);
  } else {
    send_queue_.PushMessage(opcode, payload, unmask_key);
  }
  shard().connections().MarkForFlush(*this);
  if (AccessLog* log = shard().access_log()) log->OnMessageOut(slot_, generation_);
  ++shard().stats().messages_sent;
  return AfterQueue();
}

void Connection::NotifyWhenUncongested() {
  DCHECK(congested());
  io_.drain_wanted = true;
}

void Connection::NoteClose(CloseReason why, uint16_t code) {
  if (close_reason_ != CloseReason::kConnectionLost) return;
  close_reason_ = why;
  close_code_ = code;
}

void Connection::Close(uint16_t code, std::string_view reason, CloseReason why) {
  if (state_ != State::kWebSocket) return;
  QueueBytes(SharedFrame::EncodeClose(code, reason));
  BeginClose(code, why);
}

void Connection::BeginClose(uint16_t code, CloseReason why) {
  if (AccessLog* log = shard().access_log()) log->OnClose(slot_, generation_, code, true);
  NoteClose(why, code);
  Shard& owner = shard();
  owner.ws().Leave(*this);
  state_ = State::kClosing;
  // A cut-off reader's progress is measured from here (WsDriver::OnTimer).
  const uint64_t now = owner.reactor().now();
  last_send_tick_ = static_cast<uint32_t>(now);
  owner.connections().ScheduleTimer(*this,
                                    now + Reactor::SecondsToTicks(owner.config().close_timeout_s));
  if (io_.close_frame_received) owner.connections().FinishAfterFlush(*this);
}

void WebSocketHandler::OnMaskedBinary(Connection& /*conn*/, const ws::MaskedPayload& /*payload*/) {
  CHECK(!"TakesMaskedBinary() without OnMaskedBinary");
}

}  // namespace ringcast
