// Shard: what arrives on a connection — HTTP requests until an upgrade, WebSocket frames after.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/log.h"
#include "core/net/http_exchange.h"
#include "core/net/shared_frame.h"
#include "core/runtime/shard.h"

namespace ringcast {

void Shard::HandleHttp(Connection& conn, std::span<uint8_t> data) {
  // Zero-copy when a request arrives whole (the usual case): parse straight out of the receive
  // buffer. Only an incomplete request, or bytes behind one whose answer is deferred, are copied
  // into http_pending_ to wait.
  if (conn.body_streaming_) {  // A streamed body first; what follows it is the next request.
    data = FeedBody(conn, data);
    if (data.empty() || conn.state_ != Connection::State::kHttp) return;
  }
  std::string* pending = conn.http_pending_.get();
  if (conn.awaiting_answer_) {
    if (pending == nullptr) {
      conn.http_pending_ = std::make_unique<std::string>();
      pending = conn.http_pending_.get();
    }
    pending->append(reinterpret_cast<const char*>(data.data()), data.size());
    if (pending->size() > config_.max_header_bytes + config_.max_body_bytes) Abort(conn);
    return;
  }
  std::span<uint8_t> input = data;
  if (pending != nullptr) {
    pending->append(reinterpret_cast<const char*>(data.data()), data.size());
    input = {reinterpret_cast<uint8_t*>(pending->data()), pending->size()};
  }
  size_t offset = 0;
  while (offset < input.size() && conn.state_ == Connection::State::kHttp &&
         !conn.awaiting_answer_) {
    std::string_view view(reinterpret_cast<const char*>(input.data()) + offset,
                          input.size() - offset);
    http::Request request;
    http::ParseResult parsed = http::ParseRequest(view, http_limits_, &request);
    if (parsed.status == http::Status::kNeedMore) break;
    if (parsed.status == http::Status::kError) {
      ReplyHttpError(conn, parsed.error_status, parsed.error_reason);
      offset = input.size();
      break;
    }
    const bool streams = app_->StreamsBody(request);
    if (!streams && request.content_length > config_.max_body_bytes) {
      ReplyHttpError(conn, 413, "request body too large");
      offset = input.size();
      break;
    }
    uint64_t total = parsed.consumed + request.content_length;
    if (!streams && view.size() < total) break;  // Body still arriving.
    // A streamed body goes to its sink from here on, as much of it as has arrived.
    const uint64_t body_here =
        std::min<uint64_t>(view.size() - parsed.consumed, request.content_length);
    offset += streams ? parsed.consumed : total;
    HttpExchange exchange(
        conn, request,
        streams ? std::string_view() : view.substr(parsed.consumed, request.content_length));
    exchange.body_pending_ = streams && body_here < request.content_length;
    const uint64_t queued_before = conn.send_queue_.bytes();
    if (access_log_) {
      access_log_->OnRequest(
          conn.slot_, conn.generation_, request.method_text, request.target, total,
          access_log_->NeedsAddress(conn.slot_, conn.generation_) ? ImmediatePeerAddress(conn)
                                                                  : std::string());
    }
    in_request_ = true;
    app_->OnRequest(exchange);
    in_request_ = false;
    if (!exchange.answered()) exchange.RespondError(500, "no handler answered");
    if (access_log_ && !exchange.access_log_user_.empty()) {  // Deferred answers use it too.
      access_log_->OnUser(conn.slot_, conn.generation_, std::move(exchange.access_log_user_));
    }
    if (exchange.outcome_ != HttpExchange::Outcome::kDeferred) {
      stats_.CountRequest(exchange.route(), exchange.status());
      if (access_log_) {
        access_log_->OnAnswer(conn.slot_, conn.generation_, exchange.status(),
                              conn.send_queue_.bytes() - queued_before);
      }
    }
    if (exchange.outcome_ == HttpExchange::Outcome::kDeferred) {
      conn.awaiting_answer_ = true;
      if (streams && exchange.sink_ != nullptr) {
        StartBodyStream(conn, exchange.sink_, request.content_length);
        // RFC 9110 §10.1.1: a client that asked waits for this before sending the body (curl
        // does past 1 MiB); an answer given at once instead (401, 413) spares it the sending.
        if (body_here < request.content_length &&
            http::EqualsIgnoreCase(request.Find("Expect"), "100-continue")) {
          conn.QueueBytes(SharedFrame::Copy("HTTP/1.1 100 Continue\r\n\r\n"));
        }
        const std::span<uint8_t> body = input.subspan(offset, body_here);
        offset += body_here;
        FeedBody(conn, body);  // Everything after it waits for the answer (awaiting_answer_).
      } else if (streams && request.content_length > 0) {
        // Deferred without a sink: the body would be read as the next request. A route bug.
        RC_LOG(kError, "shard %u: a streamed request deferred without a body sink", id_);
        Abort(conn);
        offset = input.size();
      }
      break;
    }
    if (streams) offset += body_here;  // Answered at once: what arrived of the body is dropped.
    if (exchange.outcome_ == HttpExchange::Outcome::kUpgraded) {
      StartWebSocket(conn, input.subspan(offset));
      offset = input.size();
      break;
    }
    AfterHttpAnswer(conn, exchange.outcome_ == HttpExchange::Outcome::kClose);
  }
  bool keep = offset < input.size() && conn.state_ == Connection::State::kHttp;
  if (pending != nullptr) {
    if (keep) {
      pending->erase(0, offset);
    } else {
      conn.http_pending_.reset();
    }
  } else if (keep) {
    conn.http_pending_ = std::make_unique<std::string>(
        reinterpret_cast<const char*>(input.data()) + offset, input.size() - offset);
  }
}

void Shard::AfterHttpAnswer(Connection& conn, bool close) {
  if (close) {
    FinishAfterFlush(conn);
    return;
  }
  // The next request's handshake timeout counts from this answer.
  conn.last_receive_tick_ = static_cast<uint32_t>(timers_.now());
}

void Shard::StartWebSocket(Connection& conn, std::span<uint8_t> early_frames) {
  conn.close_reason_ = CloseReason::kConnectionLost;  // Until a close frame says otherwise.
  ForgetPeer(conn);  // Only HTTP requests (logins) ask for the address.
  ScheduleTimer(conn, timers_.now() + SecondsToTicks(config_.idle_timeout_s));
  // Frames the client sent right behind its handshake.
  if (!early_frames.empty()) HandleWebSocket(conn, early_frames);
}

Connection* Shard::TakeDeferred(const DeferredHttp& deferred) {
  // A deferred answer comes from a later event (mail, a worker's completion), never from inside
  // the OnRequest that deferred it, which is still using the connection's input.
  CHECK(!in_request_);
  Connection* conn = Find(deferred.conn);
  if (conn == nullptr || !conn->awaiting_answer_ || conn->state_ != Connection::State::kHttp) {
    return nullptr;  // Gone (closed, timed out) while the answer was being prepared.
  }
  conn->awaiting_answer_ = false;
  return conn;
}

void Shard::ResumeHttp(Connection& conn) {
  // Pipelined requests that arrived while the answer was pending.
  if (conn.http_pending_ != nullptr && conn.state_ == Connection::State::kHttp) {
    HandleHttp(conn, {});
  }
}

bool Shard::AnswerDeferred(const DeferredHttp& deferred, int status, std::string_view content_type,
                           std::string_view body, std::string_view extra_headers) {
  Connection* conn = TakeDeferred(deferred);
  if (conn == nullptr) return false;
  stats_.CountRequest(deferred.route, status);
  const uint64_t queued_before = conn->send_queue_.bytes();
  const bool close = HttpExchange::WriteResponse(*conn, deferred.keep_alive, status, content_type,
                                                 body, extra_headers, deferred.head);
  if (access_log_) {
    access_log_->OnAnswer(conn->slot_, conn->generation_, status,
                          conn->send_queue_.bytes() - queued_before);
  }
  AfterHttpAnswer(*conn, close);
  ResumeHttp(*conn);
  return true;
}

bool Shard::AnswerDeferredBytes(const DeferredHttp& deferred, int status, SharedFrame* response) {
  Connection* conn = TakeDeferred(deferred);
  if (conn == nullptr) {
    response->Release();
    return false;
  }
  stats_.CountRequest(deferred.route, status);
  if (access_log_) access_log_->OnAnswer(conn->slot_, conn->generation_, status, response->size());
  conn->QueueBytes(response);
  AfterHttpAnswer(*conn, !deferred.keep_alive);
  ResumeHttp(*conn);
  return true;
}

Connection* Shard::UpgradeDeferred(const DeferredHttp& deferred, std::string_view accept,
                                   WebSocketHandler* handler) {
  Connection* conn = TakeDeferred(deferred);
  if (conn == nullptr) return nullptr;
  stats_.CountRequest(deferred.route, 101);
  const uint64_t queued_before = conn->send_queue_.bytes();
  HttpExchange::WriteUpgrade(*conn, accept, handler);
  if (access_log_) {
    access_log_->OnAnswer(conn->slot_, conn->generation_, 101,
                          conn->send_queue_.bytes() - queued_before);
  }
  // What arrived behind the handshake while it waited is WebSocket frames, not HTTP.
  std::unique_ptr<std::string> early = std::move(conn->http_pending_);
  StartWebSocket(
      *conn, early == nullptr
                 ? std::span<uint8_t>()
                 : std::span<uint8_t>(reinterpret_cast<uint8_t*>(early->data()), early->size()));
  return conn;
}

void Shard::ReplyHttpError(Connection& conn, int status, std::string_view reason) {
  RC_LOG(kDebug, "shard %u: bad request: %d %.*s", id_, status, int(reason.size()), reason.data());
  const uint64_t queued_before = conn.send_queue_.bytes();
  HttpExchange::WriteError(conn, false, status, reason);
  if (access_log_) {
    access_log_->OnFramingError(conn.slot_, conn.generation_, status,
                                conn.send_queue_.bytes() - queued_before,
                                ImmediatePeerAddress(conn));
  }
  stats_.CountRequest("invalid", status);
  FinishAfterFlush(conn);
}

void Shard::HandleWebSocket(Connection& conn, std::span<uint8_t> data) {
  while (conn.state_ == Connection::State::kWebSocket ||
         conn.state_ == Connection::State::kClosing) {
    ws::Event event = conn.reader_.Next(&data);
    switch (event.kind) {
      case ws::EventKind::kNeedMore:
        return;
      case ws::EventKind::kText:
      case ws::EventKind::kBinary:
        // After our close frame, data is read and dropped (RFC 6455 §7.1.4 closing state).
        if (conn.state_ == Connection::State::kWebSocket) {
          if (access_log_) access_log_->OnMessageIn(conn.slot_, conn.generation_);
          ++stats_.messages_received;
          stats_.message_bytes_received += event.payload.size();
          conn.handler_->OnMessage(
              conn, event.kind == ws::EventKind::kText ? ws::Opcode::kText : ws::Opcode::kBinary,
              event.payload);
        }
        break;
      case ws::EventKind::kPing:
        // §5.5.3: a pong carries the ping's payload. Counted against the outbound cap, so a
        // ping flood from a client that never reads is cut off like any slow consumer.
        if (conn.state_ == Connection::State::kWebSocket) {
          conn.SendFrame(SharedFrame::EncodeMessage(ws::Opcode::kPong, event.payload));
          conn.handler_->OnHeartbeat(conn);
        }
        break;
      case ws::EventKind::kPong:
        if (conn.state_ == Connection::State::kWebSocket) conn.handler_->OnHeartbeat(conn);
        break;
      case ws::EventKind::kClose: {
        conn.close_frame_received_ = true;
        if (access_log_) {
          access_log_->OnClose(conn.slot_, conn.generation_, event.close_code, false);
        }
        if (conn.state_ == Connection::State::kWebSocket) {
          conn.NoteClose(CloseReason::kPeerClosed, event.close_code);
          // §5.5.1: answer with a close frame echoing the status code; no code received means
          // none is sent back.
          LeaveWebSocket(conn);
          uint16_t code = event.close_code;
          conn.QueueBytes(code == uint16_t(ws::CloseCode::kNoStatus)
                              ? SharedFrame::EncodeMessage(ws::Opcode::kClose, {})
                              : SharedFrame::EncodeClose(
                                    code, {reinterpret_cast<const char*>(event.payload.data()),
                                           event.payload.size()}));
        }
        FinishAfterFlush(conn);
        return;
      }
      case ws::EventKind::kError:
        // §7.1.7 "Fail the WebSocket Connection": send the close frame, then close.
        RC_LOG(kDebug, "shard %u: closing %u: %.*s", id_, event.close_code,
               int(event.error_reason.size()), event.error_reason.data());
        conn.Close(event.close_code, event.error_reason, CloseReason::kProtocolError);
        FinishAfterFlush(conn);
        return;
    }
  }
}

}  // namespace ringcast
