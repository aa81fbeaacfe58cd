// ShardStats: the engine's counters of one shard (docs/metrics.md).
//
// Owner: its shard; plain fields, written and read only on that thread (a scrape reads them
// there, by mail: metrics_scrape.h).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string_view>
#include <utility>

#include "core/metrics/metric_set.h"
#include "core/net/connection.h"

namespace ringcast {

struct ShardStats {
  uint64_t accepted = 0;
  uint64_t refused_max_connections = 0;  // Closed at accept: --max-connections was reached.
  uint64_t refused_per_address = 0;      // Refused: --max-conns-per-ip (address_admission.h).
  uint64_t bytes_received = 0;           // Socket bytes, HTTP and WebSocket.
  uint64_t bytes_sent = 0;
  uint64_t messages_received = 0;       // WebSocket data messages.
  uint64_t message_bytes_received = 0;  // Their payloads.
  uint64_t messages_sent = 0;           // Frames for one connection (SendMessage).
  uint64_t fanout_deliveries = 0;       // Shared frames queued (SendFrame): one per recipient.
  uint64_t frames_dropped = 0;          // Droppable frames skipped for a connection behind.
  uint64_t slow_consumers = 0;          // Connections cut off past the outbound cap.
  uint64_t socket_sends = 0;            // send/sendmsg submitted to client sockets.
  uint64_t tls_open = 0;                // TLS connections open now (each in user space).
  uint64_t tls_handshakes = 0;
  uint64_t tls_handshake_failures = 0;
  // permessage-deflate (core/net/ws_compression.h).
  uint64_t deflate_connections = 0;        // Upgrades that agreed to it.
  uint64_t deflate_compressed = 0;         // Messages compressed (a fanned-out one once per form).
  uint64_t deflate_incompressible = 0;     // ... tried, not smaller: sent as they are.
  uint64_t deflate_out_raw_bytes = 0;      // Payload bytes of the compressed ones, before ...
  uint64_t deflate_out_bytes = 0;          // ... and after.
  uint64_t deflate_deliveries = 0;         // Compressed frames queued (one per recipient).
  uint64_t deflate_inflated = 0;           // Compressed messages received and inflated.
  uint64_t deflate_in_bytes = 0;           // Their payload bytes as received ...
  uint64_t deflate_in_raw_bytes = 0;       // ... and inflated.
  uint64_t deflate_too_big = 0;            // Compressed messages inflating past their bound ...
  uint64_t deflate_too_big_raw_bytes = 0;  // ... and the bytes inflated before it stopped.
  // Ended connections by reason and close code (0: no close frame).
  std::array<std::map<uint16_t, uint64_t>, kCloseReasons> closed;
  // Answered requests by route (a static label the application gave) and status.
  std::map<std::pair<std::string_view, int>, uint64_t> http_requests;

  // Codes a client may choose (3000-4999: libraries, applications) count as 3000 or 4000, so
  // the label stays within a few dozen values.
  void CountClosed(CloseReason reason, uint16_t code) {
    ++closed[size_t(reason)][code >= 3000 ? uint16_t(code / 1000 * 1000) : code];
  }
  void CountRequest(std::string_view route, int status) { ++http_requests[{route, status}]; }
  // The figures the shard's loop keeps itself, not the connections.
  struct LoopFigures {
    uint64_t open = 0;     // Connections open now.
    uint64_t mailbox = 0;  // Mail queued for the shard.
    uint64_t turns = 0;
    uint64_t completions = 0;
  };
  // Adds this shard's figures to `out`.
  void Collect(MetricSet& out, uint32_t shard, const LoopFigures& loop) const;
};

}  // namespace ringcast
