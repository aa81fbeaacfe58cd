#include "core/net/ws_driver.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/log.h"
#include "core/net/connection_table.h"
#include "core/net/shared_frame.h"
#include "core/runtime/access_log.h"
#include "core/runtime/reactor.h"
#include "proto/utf8.h"

namespace ringcast {

void WsDriver::Start(Connection& conn, std::span<uint8_t> early_frames) {
  conn.set_close_reason(CloseReason::kConnectionLost);  // Until a close frame says otherwise.
  table_.ScheduleTimer(conn, reactor_.now() + Reactor::SecondsToTicks(config_.idle_timeout_s));
  conn.reader().set_keep_binary_masked(conn.handler()->TakesMaskedBinary());
  if (conn.deflate()) {
    conn.reader().set_compressed_allowed(true);
    ++stats_.deflate_connections;
  }
  if (!early_frames.empty()) OnData(conn, early_frames);
}

void WsDriver::Fail(Connection& conn, ws::CloseCode code, std::string_view reason) {
  RC_LOG(kDebug, "shard %u: closing %u: %.*s", reactor_.id(), unsigned(code), int(reason.size()),
         reason.data());
  conn.Close(uint16_t(code), reason, CloseReason::kProtocolError);
  table_.FinishAfterFlush(conn);
}

bool WsDriver::Inflate(Connection& conn, const ws::Event& event,
                       std::span<const uint8_t>* payload) {
  // The limit is on the inflated size: a small message that inflates past it (a zip bomb)
  // closes 1009 having made at most one byte more than the limit, which is the route's own
  // when it is lower (the chat's requests are far smaller than --max-message-size).
  const uint64_t limit = std::min(config_.max_message_size, conn.handler()->MaxMessageSize());
  switch (compression_.Inflate(event.payload, limit)) {
    case ws::InflateStatus::kOk:
      break;
    case ws::InflateStatus::kTooBig: {
      compression_.AfterInflated();
      const std::string reason =
          "message too big: inflates past " + std::to_string(limit) +
          (limit < config_.max_message_size ? " bytes, this route's limit" : " bytes");
      Fail(conn, ws::CloseCode::kMessageTooBig, reason);
      return false;
    }
    case ws::InflateStatus::kError:
      compression_.AfterInflated();
      Fail(conn, ws::CloseCode::kInvalidPayload, "invalid compressed data");
      return false;
  }
  *payload = compression_.inflated();
  // §8.1 on the message itself, which the reader could not see compressed.
  if (event.kind == ws::EventKind::kText && !IsValidUtf8(*payload)) {
    compression_.AfterInflated();
    Fail(conn, ws::CloseCode::kInvalidPayload, "invalid UTF-8 in text message");
    return false;
  }
  return true;
}

void WsDriver::OnData(Connection& conn, std::span<uint8_t> data) {
  while (conn.state() == Connection::State::kWebSocket ||
         conn.state() == Connection::State::kClosing) {
    ws::Event event = conn.reader().Next(&data);
    switch (event.kind) {
      case ws::EventKind::kNeedMore:
        return;
      case ws::EventKind::kText:
      case ws::EventKind::kBinary:
        // After our close frame, data is read and dropped (RFC 6455 §7.1.4 closing state).
        if (conn.state() == Connection::State::kWebSocket) {
          std::span<const uint8_t> payload = event.payload;
          if (event.compressed && !Inflate(conn, event, &payload)) return;
          if (access_log_) access_log_->OnMessageIn(conn.slot(), conn.generation());
          ++stats_.messages_received;
          stats_.message_bytes_received += payload.size();
          if (event.masked) {
            ws::MaskedPayload masked{event.payload, {}};
            std::memcpy(masked.key, event.mask, 4);
            conn.handler()->OnMaskedBinary(conn, masked);
            break;
          }
          conn.handler()->OnMessage(
              conn, event.kind == ws::EventKind::kText ? ws::Opcode::kText : ws::Opcode::kBinary,
              payload);
          if (event.compressed) compression_.AfterInflated();
        }
        break;
      case ws::EventKind::kPing:
        // §5.5.3: a pong carries the ping's payload. Counted against the outbound cap, so a
        // ping flood from a client that never reads is cut off like any slow consumer.
        if (conn.state() == Connection::State::kWebSocket) {
          conn.SendFrame(SharedFrame::EncodeMessage(ws::Opcode::kPong, event.payload));
          conn.handler()->OnHeartbeat(conn);
        }
        break;
      case ws::EventKind::kPong:
        if (conn.state() == Connection::State::kWebSocket) conn.handler()->OnHeartbeat(conn);
        break;
      case ws::EventKind::kClose: {
        conn.io().close_frame_received = true;
        if (access_log_) {
          access_log_->OnClose(conn.slot(), conn.generation(), event.close_code, false);
        }
        if (conn.state() == Connection::State::kWebSocket) {
          conn.NoteClose(CloseReason::kPeerClosed, event.close_code);
          // §5.5.1: answer with a close frame echoing the status code; no code received means
          // none is sent back.
          Leave(conn);
          uint16_t code = event.close_code;
          conn.QueueBytes(code == uint16_t(ws::CloseCode::kNoStatus)
                              ? SharedFrame::EncodeMessage(ws::Opcode::kClose, {})
                              : SharedFrame::EncodeClose(
                                    code, {reinterpret_cast<const char*>(event.payload.data()),
                                           event.payload.size()}));
        }
        table_.FinishAfterFlush(conn);
        return;
      }
      case ws::EventKind::kError:
        // §7.1.7 "Fail the WebSocket Connection": send the close frame, then close.
        RC_LOG(kDebug, "shard %u: closing %u: %.*s", reactor_.id(), event.close_code,
               int(event.error_reason.size()), event.error_reason.data());
        conn.Close(event.close_code, event.error_reason, CloseReason::kProtocolError);
        table_.FinishAfterFlush(conn);
        return;
    }
  }
}

void WsDriver::OnDrained(Connection& conn) {
  conn.io().drain_wanted = false;
  conn.handler()->OnDrain(conn);
}

void WsDriver::Leave(Connection& conn) {
  if (conn.handler() == nullptr || conn.io().leave_queued) return;
  if (access_log_) {  // While the handler still knows the connection (its OnClose forgets it).
    access_log_->OnUser(conn.slot(), conn.generation(), conn.handler()->AccessLogUser(conn));
  }
  conn.io().leave_queued = true;
  leave_list_.push_back(&conn);
}

void WsDriver::RunDeferredLeaves() {
  for (size_t i = 0; i < leave_list_.size(); ++i) {  // OnClose may queue more.
    Connection& conn = *leave_list_[i];
    WebSocketHandler* handler = conn.handler();
    conn.set_handler(nullptr);
    handler->OnClose(conn);
  }
  leave_list_.clear();
}

void WsDriver::OnTimer(Connection& conn) {
  const uint64_t now = reactor_.now();
  if (conn.state() == Connection::State::kWebSocket) {
    const uint64_t idle = Reactor::SecondsToTicks(config_.idle_timeout_s);
    const uint64_t due = conn.last_receive_tick() + idle;
    if (now < due) return table_.ScheduleTimer(conn, due);
    if (!conn.io().ping_outstanding) {
      conn.io().ping_outstanding = true;
      conn.QueueBytes(SharedFrame::EncodeMessage(ws::Opcode::kPing, {}));
      // The next check is one more idle interval after the ping.
      conn.set_last_receive_tick(now);
      return table_.ScheduleTimer(conn, now + idle);
    }
    conn.Close(uint16_t(ws::CloseCode::kGoingAway), "idle timeout", CloseReason::kIdleTimeout);
    return table_.FinishAfterFlush(conn);
  }
  // Closing. A slow consumer's close frame waits behind the rest of the frame the kernel has
  // part of (Connection::CutOff). Aborting now would end its byte stream mid-frame, so it is
  // kept while it reads on, until --idle-timeout passes without it taking a byte.
  if (conn.close_reason() == CloseReason::kSlowConsumer && !conn.send_queue().empty()) {
    const uint64_t due =
        uint64_t{conn.last_send_tick()} + Reactor::SecondsToTicks(config_.idle_timeout_s);
    // Checked again within --close-timeout, which a drain that begins meanwhile then gets.
    if (now < due) {
      return table_.ScheduleTimer(
          conn, std::min(due, now + Reactor::SecondsToTicks(config_.close_timeout_s)));
    }
  }
  table_.Abort(conn);  // The peer did not finish the close handshake in time.
}

}  // namespace ringcast
