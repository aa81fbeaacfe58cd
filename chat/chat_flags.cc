#include <cstdio>
#include <tuple>

#include "chat/chat_options.h"
#include "core/flags.h"

namespace ringcast::chat {

namespace {

// Tokens' secret, files and messages.
void AddFileAndMessageFlags(FlagRegistry& flags, ChatOptions* options) {
  flags.Add({
      {"jwt-secret", &options->jwt_secret,
       "Token signing secret, at least 32 bytes (default: generated once, kept in the data "
       "dir)"},
      Bounded("max-upload-bytes", &options->max_upload_bytes, uint64_t{1}, uint64_t{1} << 40,
              "Largest file POST /api/uploads takes, bytes (a bigger one: 413)"),
      Bounded("upload-quota-bytes", &options->upload_quota_bytes, uint64_t{0}, uint64_t{1} << 50,
              "Bytes of uploads each user may hold in all (past it: 507)"),
      {"files-dir", &options->files_dir,
       "Directory of uploaded files (default: <data-dir>/files); in cluster mode one every "
       "node mounts (a shared volume), since any node may serve any file"},
      Bounded("file-url-ttl", &options->file_url_ttl_s, 1, 7 * 86400,
              "Seconds a signed file URL (/files/{id}?exp=&sig=, for a CDN) stays valid"),
      Bounded("upload-orphan-ttl", &options->upload_orphan_ttl_s, 0, 366 * 86400,
              "Seconds an upload may wait to be attached to a message; one no message carries is "
              "then deleted (its file too when no other upload has the same bytes) and its bytes "
              "leave the quota; 0: uploads are kept forever"),
      Bounded("edit-window", &options->edit_window_s, 0, 366 * 86400 * 10,
              "Seconds after its send that its author may still edit a message (later: the "
              "edit_window error); 0: any time"),
      Bounded("max-pins", &options->max_pins, 1, 1000,
              "Pinned messages one conversation may hold (a pin past it: the too_many_pins error)"),
      Bounded("max-reactions", &options->max_reactions, 1, 1000,
              "Distinct emoji one message may carry as reactions (a new one past it: the "
              "too_many_reactions error)"),
  });
}

// Tokens, presence, sessions and their requests (WebSocket and STOMP).
void AddSessionFlags(FlagRegistry& flags, ChatOptions* options) {
  flags.Add({
      Bounded("token-ttl", &options->token_ttl_s, 1, 366 * 86400,
              "Seconds an access token is valid; a WebSocket opened with it is closed 4001 at its "
              "expiry unless an auth message gave it a newer one"),
      Bounded("refresh-token-ttl", &options->refresh_token_ttl_s, 1, 366 * 86400,
              "Seconds a refresh token (POST /api/token/refresh, rotated at each use) is valid"),
      Bounded(
          "token-refresh-notice", &options->token_refresh_notice_s, 0, 86400,
          "Seconds before its token expires that a WebSocket gets {\"type\":\"token_expiring\"}"),
      Bounded(
          "presence-timeout", &options->presence_timeout_s, 1, 86400,
          "Seconds without a heartbeat before a chat connection is closed and counts as offline"),
      Bounded("presence-grace", &options->presence_grace_s, 0, 3600,
              "Seconds a user stays online after their last connection closes"),
      Bounded("idle-state-ttl", &options->idle_state_ttl_s, 1, 86400,
              "Seconds a conversation's owner keeps its record once no connection is in it and "
              "nothing happens in it"),
      Bounded("max-conns-per-user", &options->max_conns_per_user, 1, 100000,
              "Chat connections one user may hold at once, over all shards"),
      Bounded("gap-fill-delay-ms", &options->gap_fill_delay_ms, 1, 60000,
              "How long a conversation waits for a missing message (from Redis in cluster mode, or "
              "a commit whose answer was lost) before reading it from the store"),
      {"admin-token", &options->admin_token,
       "Bearer token for operator routes (GET /api/cluster); empty: those routes answer 403"},
      Bounded(
          "msg-rate", &options->msg_rate, 1, 100000000,
          "Chat requests per second per connection (bursts of twice that); also a user's changes "
          "to messages over HTTP per second, counted per shard"),
      Bounded("max-chat-body", &options->max_chat_body, uint64_t{1}, uint64_t{1} << 24,
              "Largest chat message body, bytes (also a STOMP frame's body)"),
      Bounded(
          "stomp-heartbeat-ms", &options->stomp_heartbeat_ms, 0, 3600000,
          "STOMP heart-beats: the server sends one when it has sent nothing for the larger of this "
          "and what the client asks, and closes a client silent for twice the larger of this and "
          "what it offers; 0: none either way"),
      Bounded("stomp-max-subscriptions", &options->stomp_max_subscriptions, 5, 1 << 20,
              "STOMP subscriptions one connection may hold (one per destination); a SUBSCRIBE past "
              "it is an ERROR and the close"),
  });
}

// Answers, groups, held mail, logins and registrations.
void AddLimitFlags(FlagRegistry& flags, ChatOptions* options) {
  flags.Add({
      Bounded("sync-limit", &options->sync_limit, 1, 100000,
              "Messages per conversation in one sync answer"),
      Bounded("max-answer-bytes", &options->max_answer_bytes, uint64_t{1024}, uint64_t{1} << 30,
              "Bytes of messages in one sync or history answer (at least one message; the rest: "
              "more)"),
      Bounded("max-group-size", &options->max_group_size, 2, 1000000,
              "Members of one conversation at most"),
      Bounded("max-held-mail", &options->max_held_mail, 1024, 1 << 24,
              "Refused mails one shard holds to post again each tick (chat/README.md, \"Refused "
              "mail\"); past it one is dropped and logged"),
      Bounded("login-rate-user", &options->login_rate_user, 1, 1000000,
              "Failed logins per minute on one username from one client address (429 past it)"),
      Bounded("login-rate-ip", &options->login_rate_ip, 1, 1000000,
              "Failed logins per minute per client address, on any usernames (429 past it)"),
      Bounded("login-rate-account", &options->login_rate_account, 1, 1000000,
              "Failed logins per minute on one username from all addresses together (429 past it, "
              "for every address: the cap on a guess spread over many addresses)"),
      Bounded("login-backoff-after", &options->login_backoff_after, 0, 1000000,
              "Failed logins per minute from one client address before it must wait 1 s, then 2, "
              "4... after each further failure (0: no backoff)"),
      Bounded("login-backoff-max", &options->login_backoff_max_s, 1, 3600,
              "Longest wait of the per-address login backoff, seconds"),
      Bounded("register-rate-ip", &options->register_rate_ip, 1, 1000000,
              "Registrations (POST /api/register) per minute per client address, over the whole "
              "cluster (429 past it)"),
      Bounded("password-cost", &options->password_cost, 10, 20,
              "log2 of scrypt's N for new password hashes (14: ~50 ms; lower only for "
              "tests/benchmarks)"),
  });
}

// The HTTP transports (SSE and long polling).
void AddSseFlags(FlagRegistry& flags, ChatOptions* options) {
  flags.Add({
      Bounded("sse-buffer-bytes", &options->sse_buffer_bytes, uint64_t{4096}, uint64_t{1} << 30,
              "Bytes of recent events an SSE or long-polled chat session keeps for a resume "
              "(Last-Event-ID, a poll's after); a client that falls further behind is cut (1008) "
              "and starts again with hello and sync"),
      Bounded("sse-buffer-events", &options->sse_buffer_events, 16, 1 << 20,
              "Recent events an SSE or long-polled chat session keeps for a resume, at most"),
      Bounded("sse-grace", &options->sse_grace_s, 1, 3600,
              "Seconds an SSE or long-polled chat session lives on with no stream and no poll, "
              "waiting for its client to resume"),
      Bounded(
          "sse-opens-per-minute", &options->sse_opens_per_minute, 1, 1000000,
          "New SSE or long-polled chat sessions (GET /sse, GET /sse/poll without a session) one "
          "user may open per minute, over the whole cluster (429 with Retry-After past it; a "
          "resume is not an open)"),
      Bounded("sse-poll-timeout", &options->sse_poll_timeout_s, 1, 3600,
              "Seconds a long poll (GET /sse/poll) waits for events before it is answered empty; "
              "keep it below --answer-timeout and the proxies' read timeouts"),
      Bounded("sse-keepalive", &options->sse_keepalive_s, 1, 3600,
              "Seconds of silence after which an SSE stream gets a comment line (a keep-alive for "
              "proxies and the client); keep it below --idle-timeout"),
  });
}

// Calls: ICE servers (STUN, TURN and its secret) and the calls' own limits.
void AddCallFlags(FlagRegistry& flags, ChatOptions* options) {
  std::string* stun_urls = flags.Scratch();
  std::string* turn_urls = flags.Scratch();
  flags.Add({
      {"stun-urls", stun_urls,
       "Comma-separated STUN servers for calls (stun:HOST[:PORT], stuns:…), handed to clients "
       "by GET /api/calls/ice-servers"},
      {"turn-urls", turn_urls,
       "Comma-separated TURN servers for calls (turn:HOST[:PORT][?transport=udp|tcp], "
       "turns:…), each client given a credential for them that --turn-secret signs"},
      {"turn-secret", &options->ice_servers.turn_secret,
       "The secret ringcast shares with the TURN server (coturn: use-auth-secret, "
       "static-auth-secret) to sign the clients' short-lived TURN credentials"},
      Bounded("turn-ttl", &options->ice_servers.turn_ttl_s, 60, 7 * 86400,
              "Seconds a TURN credential stays valid (a call that outlives it keeps its allocation "
              "only while the TURN server accepts the refresh: fetch new ones for an ICE restart)"),
      Bounded("call-ring-timeout", &options->call_ring_timeout_s, 1, 600,
              "Seconds a call rings unanswered before it ends as missed"),
      Bounded("call-max-participants", &options->call_max_participants, 2, 16,
              "Devices one group call may have at once (a mesh: each sends its media to each other "
              "one; larger calls need an SFU)"),
      Bounded("call-ring-max", &options->call_ring_max, 1, 10000,
              "Members a group call rings at most (those whose devices took the conversation's "
              "messages most recently first); the others may still join it, unrung"),
      Bounded(
          "call-rejoin-grace", &options->call_rejoin_grace_s, 1, 300,
          "Seconds a call participant whose connection dropped may rejoin from a new one before "
          "the others see it leave"),
  });
  flags.AddCheck([options, stun_urls, turn_urls] {
    IceServerOptions& ice = options->ice_servers;
    for (auto [text, turn, out] : {std::tuple{stun_urls, false, &ice.stun_urls},
                                   std::tuple{turn_urls, true, &ice.turn_urls}}) {
      out->clear();
      if (auto error = ParseIceUrls(*text, turn, out)) {
        std::fprintf(stderr, "ringcast: %s\n", error->c_str());
        return false;
      }
    }
    if (ice.turn_urls.empty() != ice.turn_secret.empty()) {
      std::fprintf(stderr,
                   "ringcast: --turn-urls and --turn-secret go together (a TURN server "
                   "takes only the credentials its secret signs)\n");
      return false;
    }
    return true;
  });
}

}  // namespace

// In the order --help lists them.
void RegisterChatFlags(FlagRegistry& flags, ChatOptions* options) {
  AddFileAndMessageFlags(flags, options);
  AddSessionFlags(flags, options);
  AddLimitFlags(flags, options);
  AddSseFlags(flags, options);
  AddCallFlags(flags, options);
  flags.AddSecretFile({"jwt-secret", "--jwt-secret-file", "RINGCAST_JWT_SECRET_FILE"});
  flags.AddSecretFile({"turn-secret", "--turn-secret-file", "RINGCAST_TURN_SECRET_FILE"});
  flags.AddSecretFile({"admin-token", "--admin-token-file", "RINGCAST_ADMIN_TOKEN_FILE"});
}

}  // namespace ringcast::chat
