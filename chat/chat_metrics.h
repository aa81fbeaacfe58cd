// ChatMetrics: the chat service's counters of one shard (docs/metrics.md).
//
// Owner: its ChatShard; plain fields, touched only on that shard's thread (the roles count, a
// scrape reads them by mail: core/metrics/metrics_scrape.h).
#pragma once

#include <cstdint>
#include <map>
#include <string_view>

#include "core/metrics/metric_set.h"

namespace ringcast::chat {

struct ChatMetrics {
  uint64_t sends = 0;      // send requests accepted for the store (past the checks).
  uint64_t acks = 0;       // Their acks (duplicates' included).
  uint64_t gap_fills = 0;  // Cluster mode: store reads that filled a gap in a conversation.
  // Fresh commits at a seq already published with another message: the database lost
  // acknowledged commits (a failover to an asynchronous standby), and the owner followed it.
  uint64_t seq_rewinds = 0;
  // Cluster mode (docs/cluster.md, "Writers"): sends forwarded to their conversation's writer,
  // sends other nodes forwarded here, and forwards committed here after the writer's silence.
  uint64_t forwarded_sends = 0;
  uint64_t forwarded_appends = 0;
  uint64_t forward_timeouts = 0;
  // Calls (docs/calls.md) held here that ended, by outcome (a literal: "completed", ...), and
  // the SDP offers, answers and ICE candidates relayed between their devices.
  std::map<std::string_view, uint64_t> calls_ended;
  uint64_t call_signals = 0;
  // What the calls held here cost to tell their devices: mails to this node's shards (a note
  // for every device of users is one per shard, however many users it names) and Redis
  // publications (cluster mode). A ring is one note (issue 44: it was one per member).
  uint64_t call_note_mails = 0;
  uint64_t call_note_publishes = 0;
  // Error events sent, by code (a literal: "forbidden", "rate_limited", ...).
  std::map<std::string_view, uint64_t> errors;
  // Seconds from a send reaching its shard to its ack leaving the owner (store commit
  // included), on the conversation's owner shard.
  Histogram ack_latency{LatencyBuckets()};
  // Seconds from the commit being known on its owner shard (or, for a message from another
  // node, its arrival) to the message being queued to the recipients of a shard.
  Histogram delivery_latency{LatencyBuckets()};

  void CountError(std::string_view code) { ++errors[code]; }
  // Adds these figures; `sessions`, `online_users` and `calls` (held) are the shard's gauges.
  void Collect(MetricSet& out, uint64_t sessions, uint64_t online_users, uint64_t calls) const;
  // The sessions by transport (proto/PROTOCOL.md, "Chat transports"): /ws, SSE, long polling;
  // and the SSE hub's channels (ended sessions' kept for --sse-grace too).
  static void CollectTransports(MetricSet& out, uint64_t ws, uint64_t sse, uint64_t poll,
                                uint64_t sse_channels);
};

}  // namespace ringcast::chat
