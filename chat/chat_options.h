// The chat service's own options (chat/README.md): tokens, presence, uploads, the per-user and
// per-address limits; the flags that set them are in chat_flags.cc. What the chat service
// reads of the other modules' options comes with them in chat::Config (chat/config.h).
#pragma once

#include <cstdint>
#include <string>

#include "chat/calls/ice_servers.h"

namespace ringcast {
class FlagRegistry;
}  // namespace ringcast

namespace ringcast::chat {

struct ChatOptions {
  std::string jwt_secret;                     // Empty: read or create <data_dir>/jwt-secret.
  uint32_t token_ttl_s = 3600;                // An access token; the WebSocket closes at its end.
  uint32_t refresh_token_ttl_s = 30 * 86400;  // A refresh token (rotated at each use).
  uint32_t token_refresh_notice_s = 60;       // token_expiring this long before the close.
  uint32_t presence_timeout_s = 120;
  uint32_t presence_grace_s = 5;
  uint32_t idle_state_ttl_s = 60;  // An owned conversation nobody uses is forgotten after it.
  // Uploads and files (chat/README.md, "Files"): POST /api/uploads, GET /files/{id}.
  uint64_t max_upload_bytes = 100 << 20;     // Largest file (bigger: 413).
  uint64_t upload_quota_bytes = 1ull << 30;  // Per user, over all their uploads (past it: 507).
  uint32_t file_url_ttl_s = 3600;            // Lifetime of a signed file URL (?exp=&sig=).
  // An upload no message carries this long after its upload is deleted (0: kept forever).
  uint32_t upload_orphan_ttl_s = 86400;
  // Seconds after its send that a message may still be edited (0: any time; proto/PROTOCOL.md,
  // "Changes to messages").
  uint32_t edit_window_s = 0;
  uint32_t max_pins = 50;  // Pinned messages one conversation may hold.
  // Distinct emoji one message may carry as reactions (a new one past it: refused).
  uint32_t max_reactions = 20;
  std::string files_dir;  // Uploaded files; empty: <data_dir>/files. Shared by a cluster's nodes.
  uint32_t max_conns_per_user = 16;
  uint32_t gap_fill_delay_ms = 100;
  std::string admin_token;  // Operator routes; empty: refused.
  uint32_t msg_rate = 100;  // Requests per second per connection; burst twice that.
  uint64_t max_chat_body = 65536;
  uint32_t sync_limit = 500;
  uint64_t max_answer_bytes = 1 << 20;  // Messages in one sync/history answer, bytes.
  uint32_t max_group_size = 1000;
  // Refused mails a shard holds to post again (ChatService::PostOrHold); past it: dropped, logged.
  uint32_t max_held_mail = 65536;
  // Failed logins per minute (chat/README.md, "Login attempts"): per account and address, per
  // address, per account over every address; an address backs off after login_backoff_after.
  uint32_t login_rate_user = 10;
  uint32_t login_rate_ip = 60;
  uint32_t login_rate_account = 1000;
  uint32_t login_backoff_after = 5;
  uint32_t login_backoff_max_s = 60;
  uint32_t register_rate_ip = 10;  // Registrations per minute per client address.
  uint32_t password_cost = 14;     // log2 of scrypt's N.
  // Calls' STUN and TURN servers (--stun-urls, --turn-urls, --turn-secret, --turn-ttl).
  IceServerOptions ice_servers;
  // Calls (proto/PROTOCOL.md, "Calls: signalling").
  uint32_t call_ring_timeout_s = 45;   // Unanswered this long: missed.
  uint32_t call_max_participants = 4;  // Devices in one group call (a mesh).
  uint32_t call_rejoin_grace_s = 10;   // A dropped participant may come back this long.
  uint32_t call_ring_max = 32;         // Members a group call rings; the others join unrung.
  // The HTTP transports (proto/PROTOCOL.md, "SSE and long polling"): the events a
  // session keeps for a resume (bytes of JSON, and a count), how long a session with no stream
  // and no poll lives on, how long a poll waits for events, and the keep-alive comments'
  // period on a quiet stream (below --idle-timeout).
  uint64_t sse_buffer_bytes = 1 << 20;
  uint32_t sse_buffer_events = 4096;
  uint32_t sse_grace_s = 30;
  uint32_t sse_poll_timeout_s = 25;
  uint32_t sse_keepalive_s = 15;
  // New sessions a user may open per minute on them (a resume is not one): each costs a store
  // read and a channel until it ends.
  uint32_t sse_opens_per_minute = 60;
  // STOMP heart-beats (proto/PROTOCOL.md, "STOMP 1.2 over WebSocket"): CONNECTED's heart-beat, both
  // ways; 0: none.
  uint32_t stomp_heartbeat_ms = 10000;
  // Subscriptions one STOMP connection may hold (one per destination: the 4 queues and its
  // conversations).
  uint32_t stomp_max_subscriptions = 1024;
};

void RegisterChatFlags(FlagRegistry& flags, ChatOptions* options);

}  // namespace ringcast::chat
