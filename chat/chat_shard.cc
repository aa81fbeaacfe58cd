#include "chat/chat_shard.h"

#include <algorithm>

#include "chat/api/http_routes.h"
#include "core/routes/default_app.h"
#include "core/runtime/shard.h"

namespace ringcast::chat {

ChatShard::ChatShard(Shard& shard, ChatService& service)
    : service_(service),
      shard_(shard),
      clock_(service.clock()),
      fallback_(MakeDefaultApp(shard)),
      sessions_(shard, service, metrics_),
      sse_(shard, service, sessions_.detached()),
      conversations_(shard, service, metrics_),
      users_(shard, service),
      calls_(shard, service, metrics_),
      stomp_(shard, service, sessions_),
      http_api_(*this, shard, service),
      attempts_(*this, shard, service),
      uploads_(shard, service, http_api_),
      ops_api_(shard, service),
      next_sweep_ms_(clock_.MonotonicMs()) {}

ChatShard::~ChatShard() = default;

void ChatShard::OnRequest(HttpExchange& exchange) {
  if (!DispatchChatRoute(*this, exchange)) fallback_->OnRequest(exchange);
}

bool ChatShard::StreamsBody(const http::Request& request) const {
  return RouteStreamsBody(request);
}

void ChatShard::OnTick() {
  // Every tick: mail refused earlier, gap fills, refills of lagging shards, cluster checks. Once a
  // second: heartbeats (STOMP's too), presence grace periods, the login window, idle records,
  // expired revocations. Every duration is on the monotonic clock: a wall-clock step must not close
  // every session.
  const int64_t now = clock_.MonotonicMs();
  service_.RetryHeld(shard_.id());  // Before anything new is posted this tick.
  conversations_.OnTick(now);
  calls_.OnTick(now);
  if (now < next_sweep_ms_) return;
  next_sweep_ms_ = now + 1000;
  sessions_.Sweep(now);
  sse_.Sweep(now);
  stomp_.Sweep(now);
  users_.Sweep();
  http_api_.Sweep(now);
  attempts_.Sweep(now);
  conversations_.ForgetIdle(now);
}

void ChatShard::OnShutdown() { sessions_.Drain(); }

bool ChatShard::Drained() const { return service_.replies_in_flight() == 0; }

void ChatShard::OnMessage(Connection& conn, ws::Opcode opcode, std::span<const uint8_t> payload) {
  sessions_.connections().OnMessage(conn, opcode, payload);
}

void ChatShard::OnHeartbeat(Connection& conn) { sessions_.connections().OnHeartbeat(conn); }

void ChatShard::OnDrain(Connection& conn) { sessions_.connections().OnDrain(conn); }

void ChatShard::OnClose(Connection& conn) { sessions_.connections().OnClose(conn); }

std::string ChatShard::AccessLogUser(const Connection& conn) const {
  return sessions_.connections().UserOf(conn);
}

uint64_t ChatShard::MaxMessageSize() const {
  return RequestLimits{.max_body = service_.config().max_chat_body}.max_request_bytes();
}

void ChatShard::CollectMetrics(MetricSet& out) const {
  metrics_.Collect(out, sessions_.session_count(), users_.online_count(), calls_.size());
  const size_t over_http = sse_.streamed() + sse_.polled();
  ChatMetrics::CollectTransports(
      out, sessions_.session_count() - std::min(over_http, sessions_.session_count()),
      sse_.streamed(), sse_.polled(), sse_.channel_count());
}

}  // namespace ringcast::chat
