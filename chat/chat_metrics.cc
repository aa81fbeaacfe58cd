#include "chat/chat_metrics.h"

namespace ringcast::chat {

void ChatMetrics::Collect(MetricSet& out, uint64_t sessions, uint64_t online_users,
                          uint64_t calls) const {
  out.Gauge("ringcast_chat_sessions", "Chat WebSocket sessions open on this node",
            double(sessions));
  out.Gauge("ringcast_presence_online_users",
            "Users with a chat connection to this node (or within their grace period)",
            double(online_users));
  out.Counter("ringcast_chat_sends_total", "Chat messages sent to the store by clients",
              double(sends));
  out.Counter("ringcast_chat_acks_total", "Acks of chat messages (after their commit)",
              double(acks));
  constexpr std::string_view kErrorsHelp = "Chat error events sent to clients, by code";
  // Present at 0, so that a rate() over it exists before the first error.
  out.Counter("ringcast_chat_errors_total", kErrorsHelp, 0, {{"code", "bad_request"}});
  for (const auto& [code, count] : errors) {
    out.Counter("ringcast_chat_errors_total", kErrorsHelp, double(count), {{"code", code}});
  }
  out.Gauge("ringcast_calls_active", "Calls this node holds (ringing or going on)", double(calls));
  constexpr std::string_view kCallsHelp = "Calls this node held that ended, by outcome";
  out.Counter("ringcast_calls_ended_total", kCallsHelp, 0, {{"outcome", "completed"}});
  for (const auto& [outcome, count] : calls_ended) {
    out.Counter("ringcast_calls_ended_total", kCallsHelp, double(count), {{"outcome", outcome}});
  }
  out.Counter("ringcast_call_signals_total",
              "SDP offers, answers and ICE candidates relayed between a call's devices",
              double(call_signals));
  out.Counter("ringcast_call_note_mails_total",
              "Mails to this node's shards that the calls held here sent for their events (a "
              "ring, or its end, is one per shard however many members it names)",
              double(call_note_mails));
  out.Counter("ringcast_call_note_publishes_total",
              "Cluster mode: Redis publications of the calls held here for their events",
              double(call_note_publishes));
  out.Counter("ringcast_cluster_gap_fills_total",
              "Cluster mode: gaps in a conversation's seq filled from the store",
              double(gap_fills));
  out.Counter("ringcast_chat_seq_rewinds_total",
              "New messages the store numbered at a seq already published with another message "
              "(it lost acknowledged commits: a failover to an asynchronous standby)",
              double(seq_rewinds));
  out.Counter("ringcast_cluster_forwarded_sends_total",
              "Cluster mode: sends forwarded to the node that writes their conversation",
              double(forwarded_sends));
  out.Counter("ringcast_cluster_forwarded_appends_total",
              "Cluster mode: sends other nodes forwarded here to commit",
              double(forwarded_appends));
  out.Counter("ringcast_cluster_forward_timeouts_total",
              "Cluster mode: forwarded sends committed here after --forward-timeout-ms without "
              "the writer's answer",
              double(forward_timeouts));
  out.Observations("ringcast_chat_ack_latency_seconds",
                   "From a send reaching the server to its ack (store commit included)",
                   ack_latency);
  out.Observations("ringcast_chat_delivery_latency_seconds",
                   "From a message's commit (or its arrival from another node) to its queueing "
                   "for the recipients on a shard",
                   delivery_latency);
}

void ChatMetrics::CollectTransports(MetricSet& out, uint64_t ws, uint64_t sse, uint64_t poll,
                                    uint64_t sse_channels) {
  constexpr std::string_view kHelp = "Chat sessions open on this node, by transport";
  out.Gauge("ringcast_chat_sessions_by_transport", kHelp, double(ws), {{"transport", "ws"}});
  out.Gauge("ringcast_chat_sessions_by_transport", kHelp, double(sse), {{"transport", "sse"}});
  out.Gauge("ringcast_chat_sessions_by_transport", kHelp, double(poll), {{"transport", "poll"}});
  out.Gauge("ringcast_chat_sse_channels",
            "SSE and long-poll sessions held: open ones, and ended ones kept for --sse-grace",
            double(sse_channels));
}

}  // namespace ringcast::chat
