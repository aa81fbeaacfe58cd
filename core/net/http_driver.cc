// HttpDriver: requests, deferred answers and the request timer (http_stream.cc: streamed bodies).
#include "core/net/http_driver.h"

#include <algorithm>
#include <string>

#include "core/log.h"
#include "core/net/connection_table.h"
#include "core/net/shared_frame.h"
#include "core/net/ws_driver.h"
#include "core/runtime/access_log.h"
#include "core/runtime/reactor.h"

namespace ringcast {

HttpDriver::HttpDriver(Reactor& reactor, ConnectionTable& table, WsDriver& ws, const Config& config,
                       ShardStats& stats)
    : reactor_(reactor), table_(table), ws_(ws), config_(config), stats_(stats) {
  limits_.max_header_bytes = config.max_header_bytes;
  // Checked per request once the route is known (OnData): a streamed body has its route's own
  // bound instead.
  limits_.max_body_bytes = UINT64_MAX;
}

void HttpDriver::OnData(Connection& conn, std::span<uint8_t> data) {
  // Zero-copy when a request arrives whole (the usual case): parse straight out of the receive
  // buffer. Only an incomplete request, or bytes behind one whose answer is deferred, are copied
  // into http_pending() to wait.
  Connection::Io& io = conn.io();
  if (io.body_streaming) {  // A streamed body first; what follows it is the next request.
    data = FeedBody(conn, data);
    if (data.empty() || conn.state() != Connection::State::kHttp) return;
  }
  std::unique_ptr<std::string>& pending_bytes = conn.http_pending();
  std::string* pending = pending_bytes.get();
  if (io.awaiting_answer) {
    if (pending == nullptr) {
      pending_bytes = std::make_unique<std::string>();
      pending = pending_bytes.get();
    }
    pending->append(reinterpret_cast<const char*>(data.data()), data.size());
    if (pending->size() > config_.max_header_bytes + config_.max_body_bytes) table_.Abort(conn);
    return;
  }
  std::span<uint8_t> input = data;
  if (pending != nullptr) {
    pending->append(reinterpret_cast<const char*>(data.data()), data.size());
    input = {reinterpret_cast<uint8_t*>(pending->data()), pending->size()};
  }
  size_t offset = 0;
  while (offset < input.size() && conn.state() == Connection::State::kHttp && !io.awaiting_answer) {
    std::string_view view(reinterpret_cast<const char*>(input.data()) + offset,
                          input.size() - offset);
    http::Request request;
    http::ParseResult parsed = http::ParseRequest(view, limits_, &request);
    if (parsed.status == http::Status::kNeedMore) break;
    if (parsed.status == http::Status::kError) {
      ReplyError(conn, parsed.error_status, parsed.error_reason);
      offset = input.size();
      break;
    }
    const bool streams = app_->StreamsBody(request);
    if (!streams && request.content_length > config_.max_body_bytes) {
      ReplyError(conn, 413, "request body too large");
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
        streams ? std::string_view() : view.substr(parsed.consumed, request.content_length),
        streams && body_here < request.content_length);
    const uint64_t queued_before = conn.send_queue().bytes();
    if (access_log_) {
      access_log_->OnRequest(
          conn.slot(), conn.generation(), request.method_text, request.target, total,
          access_log_->NeedsAddress(conn.slot(), conn.generation()) ? table_.peers().Immediate(conn)
                                                                    : std::string());
    }
    in_request_ = true;
    app_->OnRequest(exchange);
    in_request_ = false;
    if (!exchange.answered()) exchange.RespondError(500, "no handler answered");
    const HttpExchange::Outcome outcome = exchange.outcome();
    if (access_log_) {  // Deferred answers use it too.
      if (std::string user = exchange.TakeAccessLogUser(); !user.empty()) {
        access_log_->OnUser(conn.slot(), conn.generation(), std::move(user));
      }
    }
    if (outcome == HttpExchange::Outcome::kDeferred) {
      io.awaiting_answer = true;
      if (streams && exchange.sink() != nullptr) {
        StartBodyStream(conn, exchange.sink(), request.content_length);
        // RFC 9110 §10.1.1: a client that asked waits for this before sending the body (curl
        // does past 1 MiB); an answer given at once instead (401, 413) spares it the sending.
        if (body_here < request.content_length &&
            http::EqualsIgnoreCase(request.Find("Expect"), "100-continue")) {
          conn.QueueBytes(SharedFrame::Copy("HTTP/1.1 100 Continue\r\n\r\n"));
        }
        const std::span<uint8_t> body = input.subspan(offset, body_here);
        offset += body_here;
        FeedBody(conn, body);  // Everything after it waits for the answer (awaiting_answer).
      } else if (streams && request.content_length > 0) {
        // Deferred without a sink: the body would be read as the next request. A route bug.
        RC_LOG(kError, "shard %u: a streamed request deferred without a body sink", reactor_.id());
        table_.Abort(conn);
        offset = input.size();
      }
      // Received whole, it now waits on us (OnTimer): the timer moves to --answer-timeout.
      if (!io.body_streaming) {
        table_.ScheduleTimer(
            conn, conn.last_receive_tick() + Reactor::SecondsToTicks(config_.answer_timeout_s));
      }
      break;
    }
    CountAnswer(conn, exchange.route(), exchange.status(), queued_before);
    if (streams) offset += body_here;  // Answered at once: what arrived of the body is dropped.
    if (outcome == HttpExchange::Outcome::kUpgraded) {
      table_.peers().Forget(conn);  // Only HTTP requests (logins) ask for the address.
      ws_.Start(conn, input.subspan(offset));
      offset = input.size();
      break;
    }
    AfterAnswer(conn, outcome == HttpExchange::Outcome::kClose);
  }
  bool keep = offset < input.size() && conn.state() == Connection::State::kHttp;
  if (pending != nullptr) {
    if (keep) {
      pending->erase(0, offset);
    } else {
      pending_bytes.reset();
    }
  } else if (keep) {
    pending_bytes = std::make_unique<std::string>(
        reinterpret_cast<const char*>(input.data()) + offset, input.size() - offset);
  }
}

void HttpDriver::CountAnswer(Connection& conn, std::string_view route, int status,
                             uint64_t queued_before) {
  stats_.CountRequest(route, status);
  if (access_log_) {
    access_log_->OnAnswer(conn.slot(), conn.generation(), status,
                          conn.send_queue().bytes() - queued_before);
  }
}

void HttpDriver::AfterAnswer(Connection& conn, bool close) {
  if (close) {
    table_.FinishAfterFlush(conn);
    return;
  }
  // The next request's handshake timeout counts from this answer, and the timer, which waited
  // for the answer (--answer-timeout), comes back to it.
  conn.set_last_receive_tick(reactor_.now());
  table_.ScheduleTimer(conn, reactor_.now() + Reactor::SecondsToTicks(config_.handshake_timeout_s));
}

Connection* HttpDriver::TakeDeferred(const DeferredHttp& deferred) {
  // A deferred answer comes from a later event (mail, a worker's completion), never from inside
  // the OnRequest that deferred it, which is still using the connection's input.
  CHECK(!in_request_);
  Connection* conn = table_.Find(deferred.conn);
  if (conn == nullptr || !conn->io().awaiting_answer || conn->state() != Connection::State::kHttp) {
    return nullptr;  // Gone (closed, timed out) while the answer was being prepared.
  }
  conn->io().awaiting_answer = false;
  return conn;
}

void HttpDriver::Resume(Connection& conn) {
  if (conn.http_pending() != nullptr && conn.state() == Connection::State::kHttp) {
    OnData(conn, {});
  }
}

bool HttpDriver::AnswerDeferred(const DeferredHttp& deferred, int status,
                                std::string_view content_type, std::string_view body,
                                std::string_view extra_headers) {
  Connection* conn = TakeDeferred(deferred);
  if (conn == nullptr) return false;
  const uint64_t queued_before = conn->send_queue().bytes();
  const bool close = HttpExchange::WriteResponse(*conn, deferred.keep_alive, status, content_type,
                                                 body, extra_headers, deferred.head);
  CountAnswer(*conn, deferred.route, status, queued_before);
  AfterAnswer(*conn, close);
  Resume(*conn);
  return true;
}

bool HttpDriver::AnswerDeferredBytes(const DeferredHttp& deferred, int status,
                                     SharedFrame* response) {
  Connection* conn = TakeDeferred(deferred);
  if (conn == nullptr) {
    response->Release();
    return false;
  }
  const uint64_t queued_before = conn->send_queue().bytes();
  conn->QueueBytes(response);
  CountAnswer(*conn, deferred.route, status, queued_before);
  AfterAnswer(*conn, !deferred.keep_alive);
  Resume(*conn);
  return true;
}

Connection* HttpDriver::UpgradeDeferred(const DeferredHttp& deferred, std::string_view accept,
                                        WebSocketHandler* handler, std::string_view extra_headers) {
  Connection* conn = TakeDeferred(deferred);
  if (conn == nullptr) return nullptr;
  const uint64_t queued_before = conn->send_queue().bytes();
  HttpExchange::WriteUpgrade(*conn, accept, handler, deferred.deflate, extra_headers);
  CountAnswer(*conn, deferred.route, 101, queued_before);
  // What arrived behind the handshake while it waited is WebSocket frames, not HTTP.
  std::unique_ptr<std::string> early = std::move(conn->http_pending());
  table_.peers().Forget(*conn);
  ws_.Start(*conn, early == nullptr ? std::span<uint8_t>()
                                    : std::span<uint8_t>(reinterpret_cast<uint8_t*>(early->data()),
                                                         early->size()));
  return conn;
}

void HttpDriver::ReplyError(Connection& conn, int status, std::string_view reason) {
  RC_LOG(kDebug, "shard %u: bad request: %d %.*s", reactor_.id(), status, int(reason.size()),
         reason.data());
  const uint64_t queued_before = conn.send_queue().bytes();
  HttpExchange::WriteError(conn, false, status, reason);
  if (access_log_) {
    access_log_->OnFramingError(conn.slot(), conn.generation(), status,
                                conn.send_queue().bytes() - queued_before,
                                table_.peers().Immediate(conn));
  }
  stats_.CountRequest("invalid", status);
  table_.FinishAfterFlush(conn);
}

void HttpDriver::OnTimer(Connection& conn) {
  const uint64_t now = reactor_.now();
  const Connection::Io& io = conn.io();
  // A request (the first, or the next on a keep-alive connection) must arrive complete within
  // the handshake timeout of the previous answer.
  uint64_t due = conn.last_receive_tick() + Reactor::SecondsToTicks(config_.handshake_timeout_s);
  // A body paused by its sink (the disk behind) is not the client's delay; nor is a streamed
  // answer, paced by the client's reads and its own --max-outbound-bytes.
  if (io.body_paused || io.answer_streaming) due = now + Reactor::SecondsToTicks(1);
  // But a client that takes no byte of a streamed answer (a download) for --idle-timeout would
  // hold its file, its queued pieces and its slot for as long as it keeps the socket open:
  // closed.
  if (io.answer_streaming &&
      now >= uint64_t{conn.last_send_tick()} + Reactor::SecondsToTicks(config_.idle_timeout_s)) {
    RC_LOG(kDebug, "shard %u: a streamed answer's client read nothing for --idle-timeout",
           reactor_.id());
    return table_.Abort(conn);
  }
  // A request received whole and waiting for its deferred answer waits on us, not the client:
  // it gets --answer-timeout, and then an answer saying so, never a silent close (the late
  // answer then finds the connection no longer waiting: TakeDeferred). Not once its answer has
  // begun to stream (awaiting_answer stays set until the stream ends).
  const bool waiting_on_us = io.awaiting_answer && !io.body_streaming && !io.answer_streaming;
  if (waiting_on_us) {
    due = conn.last_receive_tick() + Reactor::SecondsToTicks(config_.answer_timeout_s);
  }
  if (now < due) return table_.ScheduleTimer(conn, due);
  if (waiting_on_us) {
    RC_LOG(kWarn, "shard %u: an HTTP request got no answer within --answer-timeout (%u s)",
           reactor_.id(), config_.answer_timeout_s);
    conn.io().awaiting_answer = false;
    conn.http_pending().reset();
    return ReplyError(conn, 503, "no answer within --answer-timeout, retry later");
  }
  RC_LOG(kDebug, "shard %u: HTTP request timed out", reactor_.id());
  // Part of a request arrived but not all of it: say so (RFC 9110 §15.5.9) before closing. A
  // connection that sent nothing (new, or idle after an answer) is closed silently, so a client
  // about to reuse it never reads a 408 for a request it has not sent yet.
  if (!io.awaiting_answer && conn.http_pending() != nullptr && !conn.http_pending()->empty()) {
    conn.http_pending().reset();
    return ReplyError(conn, 408, "request incomplete after --handshake-timeout");
  }
  table_.Abort(conn);
}

}  // namespace ringcast
