#include "core/net/connection.h"

#include <cstdio>
#include <string>

#include "core/log.h"
#include "core/runtime/shard.h"
#include "proto/ws_handshake.h"

namespace ringcast {

// Idle connections pay for this object alone (see connection.h).
static_assert(sizeof(Connection) <= 256, "Connection grew: check the idle-memory budget");

Shard& Connection::shard() const { return *Shard::Current(); }

ConnId Connection::id() const { return {shard().id(), slot_, generation_}; }

void Connection::QueueBytes(SharedFrame* frame) {
  if (state_ == State::kDraining || state_ == State::kClosed) {
    frame->Release();
    return;
  }
  send_queue_.Push(frame);
  shard().MarkForFlush(*this);
}

void Connection::SendFrame(SharedFrame* frame) {
  if (state_ != State::kWebSocket) {
    frame->Release();
    return;
  }
  if (send_queue_.bytes() + frame->size() > shard().config().max_outbound_bytes) {
    // Slow-consumer policy: drop what this reader has not started to receive, tell it why with
    // 1008, and stop queueing for it. Memory stays bounded by the cap; others are unaffected.
    frame->Release();
    send_queue_.DropUnstarted();
    Close(uint16_t(ws::CloseCode::kPolicyViolation),
          "slow consumer: outbound queue limit exceeded");
    shard().FinishAfterFlush(*this);
    return;
  }
  QueueBytes(frame);
}

void Connection::SendMessage(ws::Opcode opcode, std::span<const uint8_t> payload) {
  if (state_ != State::kWebSocket) return;
  SendFrame(SharedFrame::EncodeMessage(opcode, payload));
}

void Connection::Close(uint16_t code, std::string_view reason) {
  if (state_ != State::kWebSocket) return;
  shard().LeaveWebSocket(*this);
  QueueBytes(SharedFrame::EncodeClose(code, reason));
  state_ = State::kClosing;
  shard().ScheduleTimer(
      *this, shard().timers_.now() + shard().SecondsToTicks(shard().config().close_timeout_s));
  if (close_frame_received_) shard().FinishAfterFlush(*this);
}

// ---- HttpExchange ----------------------------------------------------------------------------

void HttpExchange::Respond(int status, std::string_view content_type, std::string_view body,
                           std::string_view extra_headers) {
  if (answered_) return;
  answered_ = true;
  // Errors end the connection: after a bad request the byte stream cannot be trusted.
  close_ = status >= 400 || !request_.keep_alive;
  char head[256];
  int size = std::snprintf(head, sizeof(head),
                           "HTTP/1.1 %d %.*s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n%s",
                           status, int(http::ReasonPhrase(status).size()),
                           http::ReasonPhrase(status).data(), int(content_type.size()),
                           content_type.data(), body.size(), close_ ? "Connection: close\r\n" : "");
  std::string response;
  response.reserve(size + extra_headers.size() + 2 + body.size());
  response.append(head, size).append(extra_headers).append("\r\n").append(body);
  conn_.QueueBytes(SharedFrame::Copy(response));
}

void HttpExchange::RespondError(int status, std::string_view reason,
                                std::string_view extra_headers) {
  std::string body = "{\"error\":\"";
  for (char c : reason) {
    if (c == '"' || c == '\\') body.push_back('\\');
    body.push_back(c);
  }
  body += "\"}";
  Respond(status, "application/json", body, extra_headers);
}

bool HttpExchange::Upgrade(WebSocketHandler* handler) {
  ws::HandshakeResult handshake = ws::ValidateUpgrade(request_);
  if (handshake.error_status != 0) {
    RespondError(handshake.error_status, handshake.error_reason,
                 handshake.error_status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "");
    return false;
  }
  std::string response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  response.append(handshake.accept.data(), handshake.accept.size()).append("\r\n\r\n");
  answered_ = upgraded_ = true;
  conn_.QueueBytes(SharedFrame::Copy(response));
  conn_.state_ = Connection::State::kWebSocket;
  conn_.handler_ = handler;
  handler->OnOpen(conn_);
  return true;
}

}  // namespace ringcast
