#include "core/metrics/shard_stats.h"

#include <string>

namespace ringcast {

void ShardStats::Collect(MetricSet& out, uint32_t shard, const LoopFigures& loop) const {
  out.Gauge("ringcast_connections_open", "Connections open now (HTTP and WebSocket)",
            double(loop.open));
  out.Counter("ringcast_connections_accepted_total", "Connections accepted", double(accepted));
  out.CounterBy("ringcast_connections_refused_total",
                "Connections refused at accept: the shard's --max-connections reached (closed), "
                "or the client address's --max-conns-per-ip (429, or closed on the TLS port)",
                "reason",
                {{"max_connections", double(refused_max_connections)},
                 {"per_address", double(refused_per_address)}});
  for (size_t reason = 0; reason < closed.size(); ++reason) {
    for (const auto& [code, count] : closed[reason]) {
      const std::string code_label = code == 0      ? "none"
                                     : code >= 3000 ? std::to_string(code / 1000) + "xxx"
                                                    : std::to_string(code);
      out.Counter("ringcast_connections_closed_total",
                  "Connections ended, by reason and WebSocket close code (the first close "
                  "frame's, either side's; none: no closing handshake)",
                  double(count),
                  {{"reason", CloseReasonName(CloseReason(reason))}, {"code", code_label}});
    }
  }
  for (const auto& [key, count] : http_requests) {
    const std::string status = std::to_string(key.second);
    out.Counter("ringcast_http_requests_total", "HTTP requests answered, by route and status",
                double(count), {{"route", key.first}, {"code", status}});
  }
  out.Counter("ringcast_network_received_bytes_total", "Bytes read from client sockets",
              double(bytes_received));
  out.Counter("ringcast_network_sent_bytes_total", "Bytes written to client sockets",
              double(bytes_sent));
  out.Counter("ringcast_websocket_messages_received_total", "WebSocket data messages received",
              double(messages_received));
  out.Counter("ringcast_websocket_received_bytes_total",
              "Payload bytes of the WebSocket data messages received",
              double(message_bytes_received));
  out.Counter("ringcast_websocket_frames_sent_total",
              "WebSocket frames queued to clients (fan-out deliveries included)",
              double(messages_sent + fanout_deliveries));
  out.Counter("ringcast_fanout_deliveries_total",
              "Frames encoded once and queued to each recipient (one per recipient)",
              double(fanout_deliveries));
  out.Counter("ringcast_frames_dropped_total",
              "Droppable frames (typing) skipped for a connection behind on its queue",
              double(frames_dropped));
  out.Counter("ringcast_slow_consumers_total",
              "Connections closed 1008 for exceeding --max-outbound-bytes", double(slow_consumers));
  out.Counter("ringcast_socket_sends_total",
              "send and sendmsg calls to client sockets (one carries every frame corked since "
              "the last)",
              double(socket_sends));
  // mode="user": records encrypted by OpenSSL on the shard; kernel TLS would add mode="kernel".
  out.Gauge("ringcast_tls_connections", "TLS connections open now, by where records are encrypted",
            double(tls_open), {{"mode", "user"}});
  out.Counter("ringcast_tls_handshakes_total", "TLS handshakes completed", double(tls_handshakes));
  out.Counter("ringcast_tls_handshake_failures_total",
              "TLS handshakes that failed (bad client hello, no shared cipher, cleartext HTTP to "
              "the TLS port)",
              double(tls_handshake_failures));
  out.Counter("ringcast_ws_deflate_connections_total",
              "WebSocket upgrades that agreed to permessage-deflate (--ws-deflate)",
              double(deflate_connections));
  out.CounterBy("ringcast_ws_deflate_messages_total",
                "Messages compressed (out: a fanned-out message once per window size, whatever "
                "its recipients) and inflated (in)",
                "direction",
                {{"out", double(deflate_compressed)}, {"in", double(deflate_inflated)}});
  out.Counter("ringcast_ws_deflate_incompressible_total",
              "Messages compressed and not smaller for it: sent as they were",
              double(deflate_incompressible));
  out.Counter("ringcast_ws_deflate_bytes_total",
              "Payload bytes of the messages compressed (out) and inflated (in), uncompressed "
              "(raw) and compressed",
              double(deflate_out_raw_bytes), {{"direction", "out"}, {"form", "raw"}});
  out.Counter("ringcast_ws_deflate_bytes_total", "", double(deflate_out_bytes),
              {{"direction", "out"}, {"form", "compressed"}});
  out.Counter("ringcast_ws_deflate_bytes_total", "", double(deflate_in_raw_bytes),
              {{"direction", "in"}, {"form", "raw"}});
  out.Counter("ringcast_ws_deflate_bytes_total", "", double(deflate_in_bytes),
              {{"direction", "in"}, {"form", "compressed"}});
  out.Counter("ringcast_ws_deflate_too_big_total",
              "Compressed messages received that inflate past their route's bound or "
              "--max-message-size (closed 1009)",
              double(deflate_too_big));
  out.Counter("ringcast_ws_deflate_too_big_bytes_total",
              "Bytes inflated from those messages before inflation stopped (at most the bound "
              "+ 1 each)",
              double(deflate_too_big_raw_bytes));
  out.Counter("ringcast_ws_deflate_deliveries_total",
              "Compressed frames queued to clients (one per recipient)",
              double(deflate_deliveries));
  const std::string shard_label = std::to_string(shard);
  out.Gauge("ringcast_mailbox_depth", "Mail waiting for a shard (queued to it, not yet run)",
            double(loop.mailbox), {{"shard", shard_label}});
  out.Counter("ringcast_loop_turns_total", "Turns of a shard's event loop (one wait each)",
              double(loop.turns), {{"shard", shard_label}});
  out.Counter("ringcast_loop_completions_total", "io_uring completions a shard's loop handled",
              double(loop.completions), {{"shard", shard_label}});
}

}  // namespace ringcast
