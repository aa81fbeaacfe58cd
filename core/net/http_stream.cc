// HttpDriver: streamed bodies (body_stream.h) — request bodies into a BodySink, answers from a
// BodySource.
#include <algorithm>

#include "core/log.h"
#include "core/net/connection_table.h"
#include "core/net/http_driver.h"
#include "core/runtime/reactor.h"
#include "core/runtime/shard.h"

namespace ringcast {

void HttpDriver::StartBodyStream(Connection& conn, BodySink* sink, uint64_t length) {
  HttpStream& stream = streams_[conn.slot()];
  stream.sink = sink;
  stream.body_left = length;
  conn.io().body_streaming = true;
  conn.io().body_paused = false;
}

std::span<uint8_t> HttpDriver::FeedBody(Connection& conn, std::span<uint8_t> data) {
  auto it = streams_.find(conn.slot());
  CHECK(it != streams_.end() && it->second.sink != nullptr);
  BodySink* sink = it->second.sink;
  const size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), it->second.body_left));
  it->second.body_left -= n;
  const bool end = it->second.body_left == 0;
  // The request timer counts from the last body bytes: a slow upload is not a stalled one.
  conn.set_last_receive_tick(reactor_.now());
  if (n > 0) sink->OnBodyData(data.first(n));
  if (!conn.io().body_streaming) return {};  // The sink rejected the body: drop the rest.
  if (end) {
    streams_.erase(conn.slot());
    conn.io().body_streaming = false;
    conn.io().body_paused = false;
    sink->OnBodyEnd();
  }
  return data.subspan(n);
}

void HttpDriver::PauseBody(ConnId id) {
  Connection* conn = table_.Find(id);
  if (conn == nullptr || !conn->io().body_streaming || conn->io().body_paused) return;
  conn->io().body_paused = true;
  table_.CancelRecv(*conn);
}

void HttpDriver::ResumeBody(ConnId id) {
  Connection* conn = table_.Find(id);
  if (conn == nullptr || !conn->io().body_paused) return;
  conn->io().body_paused = false;
  conn->set_last_receive_tick(reactor_.now());
  table_.RearmRecv(*conn);
}

bool HttpDriver::RejectBody(ConnId id, int status, std::string_view reason) {
  Connection* conn = table_.Find(id);
  if (conn == nullptr || !conn->io().body_streaming) return false;
  streams_.erase(conn->slot());
  conn->io().body_streaming = false;
  if (conn->io().body_paused) {
    conn->io().body_paused = false;
    // Read on to the client's EOF while closing (FinishAfterFlush).
    conn->io().recv_rearm = true;
    table_.MarkForFlush(*conn);
  }
  conn->io().awaiting_answer = false;
  const uint64_t queued_before = conn->send_queue().bytes();
  HttpExchange::WriteError(*conn, false, status, reason);
  CountAnswer(*conn, "streamed body", status, queued_before);
  conn->http_pending().reset();
  table_.FinishAfterFlush(*conn);
  return true;
}

bool HttpDriver::StreamAnswer(const DeferredHttp& deferred, int status, SharedFrame* head,
                              BodySource* source) {
  Connection* conn = table_.Find(deferred.conn);
  if (conn == nullptr || !conn->io().awaiting_answer || conn->state() != Connection::State::kHttp) {
    head->Release();
    return false;
  }
  CHECK(!in_request_);
  const uint64_t queued_before = conn->send_queue().bytes();
  conn->QueueBytes(head);
  CountAnswer(*conn, deferred.route, status, queued_before);
  HttpStream& stream = streams_[conn->slot()];
  stream.source = source;
  stream.deferred = deferred;
  conn->io().answer_streaming = true;
  conn->set_last_send_tick(reactor_.now());
  // Checked once a second from now on (OnTimer): a client that stops reading is closed after
  // --idle-timeout, not after the request's own timeout first.
  table_.ScheduleTimer(*conn, reactor_.now() + Reactor::SecondsToTicks(1));
  source->OnWritable();
  return true;
}

bool HttpDriver::StreamBytes(ConnId id, SharedFrame* bytes) {
  Connection* conn = table_.Find(id);
  if (conn == nullptr || !conn->io().answer_streaming) {
    bytes->Release();
    return false;
  }
  conn->QueueBytes(bytes);
  return true;
}

bool HttpDriver::StreamCongested(ConnId id) {
  Connection* conn = table_.Find(id);
  return conn != nullptr && conn->congested();
}

void HttpDriver::NotifyWhenWritable(Shard& shard, ConnId id) {
  Connection* conn = table_.Find(id);
  if (conn == nullptr || !conn->io().answer_streaming) return;
  conn->io().drain_wanted = true;
  if (conn->congested()) return;  // A send is under way: its completion calls back.
  // Already writable: call back at the next drain, never from inside the source's own call.
  Mail mail;
  mail.run = [](Shard& target, const Mail& m) {
    HttpDriver& self = target.http();
    Connection* again =
        self.table_.Find({target.id(), static_cast<uint32_t>(m.a), static_cast<uint32_t>(m.b)});
    if (again != nullptr && again->io().drain_wanted) self.OnWritable(*again);
  };
  mail.a = conn->slot();
  mail.b = conn->generation();
  if (!shard.Post(shard.id(), mail)) EndStream(id, false);
}

void HttpDriver::OnWritable(Connection& conn) {
  conn.io().drain_wanted = false;
  auto it = streams_.find(conn.slot());
  if (it == streams_.end() || it->second.source == nullptr) return;
  it->second.source->OnWritable();
}

void HttpDriver::EndStream(ConnId id, bool complete) {
  Connection* conn = table_.Find(id);
  if (conn == nullptr || !conn->io().answer_streaming) return;
  const DeferredHttp deferred = streams_[conn->slot()].deferred;
  streams_.erase(conn->slot());
  conn->io().answer_streaming = false;
  conn->io().drain_wanted = false;
  conn->io().awaiting_answer = false;
  AfterAnswer(*conn, !complete || !deferred.keep_alive);
  if (complete) Resume(*conn);
}

void HttpDriver::OnAbort(Connection& conn) {
  Connection::Io& io = conn.io();
  if (!io.body_streaming && !io.answer_streaming) return;
  auto it = streams_.find(conn.slot());
  if (it == streams_.end()) return;
  HttpStream stream = it->second;
  streams_.erase(it);
  io.body_streaming = io.body_paused = io.answer_streaming = false;
  if (stream.sink != nullptr) stream.sink->OnBodyAbort();
  if (stream.source != nullptr) stream.source->OnGone();
}

}  // namespace ringcast
