// Shard: streamed bodies (core/net/body_stream.h): request bodies into a BodySink, answers from
// a BodySource, and the file operations they submit on the shard's ring.
#include <algorithm>

#include "core/log.h"
#include "core/runtime/shard.h"

namespace ringcast {

void Shard::StartBodyStream(Connection& conn, BodySink* sink, uint64_t length) {
  HttpStream& stream = http_streams_[conn.slot_];
  stream.sink = sink;
  stream.body_left = length;
  conn.body_streaming_ = true;
  conn.body_paused_ = false;
}

std::span<uint8_t> Shard::FeedBody(Connection& conn, std::span<uint8_t> data) {
  auto it = http_streams_.find(conn.slot_);
  CHECK(it != http_streams_.end() && it->second.sink != nullptr);
  BodySink* sink = it->second.sink;
  const size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), it->second.body_left));
  it->second.body_left -= n;
  const bool end = it->second.body_left == 0;
  // The request timer counts from the last body bytes: a slow upload is not a stalled one.
  conn.last_receive_tick_ = static_cast<uint32_t>(timers_.now());
  if (n > 0) sink->OnBodyData(data.first(n));
  if (!conn.body_streaming_) return {};  // The sink rejected the body (RejectBody): drop the rest.
  if (end) {
    http_streams_.erase(conn.slot_);
    conn.body_streaming_ = false;
    conn.body_paused_ = false;
    sink->OnBodyEnd();
  }
  return data.subspan(n);
}

void Shard::PauseBody(ConnId id) {
  Connection* conn = Find(id);
  if (conn == nullptr || !conn->body_streaming_ || conn->body_paused_) return;
  conn->body_paused_ = true;
  if (!conn->recv_armed_) return;
  // The multishot receive ends with -ECANCELED (OnRecv re-arms it then unless still paused);
  // what the kernel had already received still arrives first.
  io_uring_sqe* sqe = ring_.GetSqe();
  io_uring_prep_cancel64(sqe, Tag(Op::kRecv, conn->slot_, conn->generation_), 0);
  io_uring_sqe_set_data64(sqe, Tag(Op::kIgnore));
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

void Shard::ResumeBody(ConnId id) {
  Connection* conn = Find(id);
  if (conn == nullptr || !conn->body_paused_) return;
  conn->body_paused_ = false;
  conn->last_receive_tick_ = static_cast<uint32_t>(timers_.now());
  if (!conn->recv_armed_) {
    conn->recv_rearm_ = true;
    MarkForFlush(*conn);
  }
}

bool Shard::RejectBody(ConnId id, int status, std::string_view reason) {
  Connection* conn = Find(id);
  if (conn == nullptr || !conn->body_streaming_) return false;
  http_streams_.erase(conn->slot_);
  conn->body_streaming_ = false;
  if (conn->body_paused_) {
    conn->body_paused_ = false;
    conn->recv_rearm_ = true;  // Read on to the client's EOF while closing (FinishAfterFlush).
    MarkForFlush(*conn);
  }
  conn->awaiting_answer_ = false;
  stats_.CountRequest("streamed body", status);
  const uint64_t queued_before = conn->send_queue_.bytes();
  HttpExchange::WriteError(*conn, false, status, reason);
  if (access_log_) {
    access_log_->OnAnswer(conn->slot_, conn->generation_, status,
                          conn->send_queue_.bytes() - queued_before);
  }
  conn->http_pending_.reset();
  FinishAfterFlush(*conn);
  return true;
}

bool Shard::StreamAnswer(const DeferredHttp& deferred, int status, SharedFrame* head,
                         BodySource* source) {
  Connection* conn = Find(deferred.conn);
  if (conn == nullptr || !conn->awaiting_answer_ || conn->state_ != Connection::State::kHttp) {
    head->Release();
    return false;
  }
  CHECK(!in_request_);
  stats_.CountRequest(deferred.route, status);
  if (access_log_) access_log_->OnAnswer(conn->slot_, conn->generation_, status, head->size());
  conn->QueueBytes(head);
  HttpStream& stream = http_streams_[conn->slot_];
  stream.source = source;
  stream.deferred = deferred;
  conn->answer_streaming_ = true;
  conn->last_send_tick_ = static_cast<uint32_t>(timers_.now());
  // Checked once a second from now on (OnTimer): a client that stops reading is closed after
  // --idle-timeout, not after the request's own timeout first.
  ScheduleTimer(*conn, timers_.now() + SecondsToTicks(1));
  source->OnWritable();
  return true;
}

bool Shard::StreamBytes(ConnId id, SharedFrame* bytes) {
  Connection* conn = Find(id);
  if (conn == nullptr || !conn->answer_streaming_) {
    bytes->Release();
    return false;
  }
  conn->QueueBytes(bytes);
  return true;
}

bool Shard::StreamCongested(ConnId id) {
  Connection* conn = Find(id);
  return conn != nullptr && conn->congested();
}

void Shard::NotifyWhenWritable(ConnId id) {
  Connection* conn = Find(id);
  if (conn == nullptr || !conn->answer_streaming_) return;
  conn->drain_wanted_ = true;
  if (conn->congested()) return;  // A send is under way: its completion calls back.
  // Already writable: call back at the next drain, never from inside the source's own call.
  Mail mail;
  mail.run = [](Shard& shard, const Mail& m) {
    Connection* again =
        shard.Find({shard.id_, static_cast<uint32_t>(m.a), static_cast<uint32_t>(m.b)});
    if (again != nullptr && again->drain_wanted_) shard.OnWritableAgain(*again);
  };
  mail.a = conn->slot_;
  mail.b = conn->generation_;
  if (!Post(id_, mail)) EndStream(id, false);
}

void Shard::OnWritableAgain(Connection& conn) {
  conn.drain_wanted_ = false;
  auto it = http_streams_.find(conn.slot_);
  if (it == http_streams_.end() || it->second.source == nullptr) return;
  it->second.source->OnWritable();
}

void Shard::EndStream(ConnId id, bool complete) {
  Connection* conn = Find(id);
  if (conn == nullptr || !conn->answer_streaming_) return;
  const DeferredHttp deferred = http_streams_[conn->slot_].deferred;
  http_streams_.erase(conn->slot_);
  conn->answer_streaming_ = false;
  conn->drain_wanted_ = false;
  conn->awaiting_answer_ = false;
  AfterHttpAnswer(*conn, !complete || !deferred.keep_alive);
  if (complete) ResumeHttp(*conn);
}

void Shard::AbortStreams(Connection& conn) {
  if (!conn.body_streaming_ && !conn.answer_streaming_) return;
  auto it = http_streams_.find(conn.slot_);
  if (it == http_streams_.end()) return;
  HttpStream stream = it->second;
  http_streams_.erase(it);
  conn.body_streaming_ = conn.body_paused_ = conn.answer_streaming_ = false;
  if (stream.sink != nullptr) stream.sink->OnBodyAbort();
  if (stream.source != nullptr) stream.source->OnGone();
}

uint32_t Shard::AddIoTarget(IoTarget* target) {
  uint32_t id;
  do {
    id = next_io_target_++;
  } while (io_targets_.contains(id));
  io_targets_[id] = target;
  return id;
}

void Shard::RemoveIoTarget(uint32_t id) { io_targets_.erase(id); }

}  // namespace ringcast
