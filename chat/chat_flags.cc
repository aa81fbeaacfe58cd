#include <CLI/CLI.hpp>

#include "chat/chat_options.h"
#include "core/flags.h"

namespace ringcast::chat {

void RegisterChatFlags(FlagRegistry& flags, ChatOptions* options) {
  flags.Add("--jwt-secret", &options->jwt_secret, "RINGCAST_JWT_SECRET",
            "Token signing secret, at least 32 bytes (default: generated once, kept in the data "
            "dir)");
  flags
      .Add("--max-upload-bytes", &options->max_upload_bytes, "RINGCAST_MAX_UPLOAD_BYTES",
           "Largest file POST /api/uploads takes, bytes (a bigger one: 413)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  flags
      .Add("--upload-quota-bytes", &options->upload_quota_bytes, "RINGCAST_UPLOAD_QUOTA_BYTES",
           "Bytes of uploads each user may hold in all (past it: 507)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 50));
  flags.Add("--files-dir", &options->files_dir, "RINGCAST_FILES_DIR",
            "Directory of uploaded files (default: <data-dir>/files); in cluster mode one every "
            "node mounts (a shared volume), since any node may serve any file");
  flags
      .Add("--file-url-ttl", &options->file_url_ttl_s, "RINGCAST_FILE_URL_TTL",
           "Seconds a signed file URL (/files/{id}?exp=&sig=, for a CDN) stays valid")
      ->check(CLI::Range(1, 7 * 86400));
  flags
      .Add("--upload-orphan-ttl", &options->upload_orphan_ttl_s, "RINGCAST_UPLOAD_ORPHAN_TTL",
           "Seconds an upload may wait to be attached to a message; one no message carries is "
           "then deleted (its file too when no other upload has the same bytes) and its bytes "
           "leave the quota; 0: uploads are kept forever")
      ->check(CLI::Range(0, 366 * 86400));
  flags
      .Add("--token-ttl", &options->token_ttl_s, "RINGCAST_TOKEN_TTL",
           "Seconds an access token is valid; a WebSocket opened with it is closed 4001 at its "
           "expiry unless an auth message gave it a newer one")
      ->check(CLI::Range(1, 366 * 86400));
  flags
      .Add("--refresh-token-ttl", &options->refresh_token_ttl_s, "RINGCAST_REFRESH_TOKEN_TTL",
           "Seconds a refresh token (POST /api/token/refresh, rotated at each use) is valid")
      ->check(CLI::Range(1, 366 * 86400));
  flags
      .Add("--token-refresh-notice", &options->token_refresh_notice_s,
           "RINGCAST_TOKEN_REFRESH_NOTICE",
           "Seconds before its token expires that a WebSocket gets {\"type\":\"token_expiring\"}")
      ->check(CLI::Range(0, 86400));
  flags
      .Add("--presence-timeout", &options->presence_timeout_s, "RINGCAST_PRESENCE_TIMEOUT",
           "Seconds without a heartbeat before a chat connection is closed and counts as offline")
      ->check(CLI::Range(1, 86400));
  flags
      .Add("--presence-grace", &options->presence_grace_s, "RINGCAST_PRESENCE_GRACE",
           "Seconds a user stays online after their last connection closes")
      ->check(CLI::Range(0, 3600));
  flags
      .Add("--idle-state-ttl", &options->idle_state_ttl_s, "RINGCAST_IDLE_STATE_TTL",
           "Seconds a conversation's owner keeps its record once no connection is in it and "
           "nothing happens in it")
      ->check(CLI::Range(1, 86400));
  flags
      .Add("--max-conns-per-user", &options->max_conns_per_user, "RINGCAST_MAX_CONNS_PER_USER",
           "Chat connections one user may hold at once, over all shards")
      ->check(CLI::Range(1, 100000));
  flags
      .Add("--max-conns-per-ip", &options->max_conns_per_ip, "RINGCAST_MAX_CONNS_PER_IP",
           "Chat WebSocket connections one client address may hold at once on this node (the "
           "address a --trusted-proxies proxy forwards); past it the upgrade is answered 429")
      ->check(CLI::Range(1, 1 << 24));
  flags
      .Add("--gap-fill-delay-ms", &options->gap_fill_delay_ms, "RINGCAST_GAP_FILL_DELAY_MS",
           "How long a conversation waits for a missing message (from Redis in cluster mode, or "
           "a commit whose answer was lost) before reading it from the store")
      ->check(CLI::Range(1, 60000));
  flags.Add("--admin-token", &options->admin_token, "RINGCAST_ADMIN_TOKEN",
            "Bearer token for operator routes (GET /api/cluster); empty: those routes answer 403");
  flags
      .Add("--msg-rate", &options->msg_rate, "RINGCAST_MSG_RATE",
           "Chat requests per second per connection (bursts of twice that)")
      ->check(CLI::Range(1, 100000000));
  flags
      .Add("--max-chat-body", &options->max_chat_body, "RINGCAST_MAX_CHAT_BODY",
           "Largest chat message body, bytes")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 24));
  flags
      .Add("--sync-limit", &options->sync_limit, "RINGCAST_SYNC_LIMIT",
           "Messages per conversation in one sync answer")
      ->check(CLI::Range(1, 100000));
  flags
      .Add("--max-answer-bytes", &options->max_answer_bytes, "RINGCAST_MAX_ANSWER_BYTES",
           "Bytes of messages in one sync or history answer (at least one message; the rest: "
           "more)")
      ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 30));
  flags
      .Add("--max-group-size", &options->max_group_size, "RINGCAST_MAX_GROUP_SIZE",
           "Members of one conversation at most")
      ->check(CLI::Range(2, 1000000));
  flags
      .Add("--max-held-mail", &options->max_held_mail, "RINGCAST_MAX_HELD_MAIL",
           "Refused mails one shard holds to post again each tick (chat/README.md, \"Refused "
           "mail\"); past it one is dropped and logged")
      ->check(CLI::Range(1024, 1 << 24));
  flags
      .Add("--login-rate-user", &options->login_rate_user, "RINGCAST_LOGIN_RATE_USER",
           "Failed logins per minute on one username from one client address (429 past it)")
      ->check(CLI::Range(1, 1000000));
  flags
      .Add("--login-rate-ip", &options->login_rate_ip, "RINGCAST_LOGIN_RATE_IP",
           "Failed logins per minute per client address, on any usernames (429 past it)")
      ->check(CLI::Range(1, 1000000));
  flags
      .Add("--login-rate-account", &options->login_rate_account, "RINGCAST_LOGIN_RATE_ACCOUNT",
           "Failed logins per minute on one username from all addresses together (429 past it, "
           "for every address: the cap on a guess spread over many addresses)")
      ->check(CLI::Range(1, 1000000));
  flags
      .Add("--login-backoff-after", &options->login_backoff_after, "RINGCAST_LOGIN_BACKOFF_AFTER",
           "Failed logins per minute from one client address before it must wait 1 s, then 2, "
           "4... after each further failure (0: no backoff)")
      ->check(CLI::Range(0, 1000000));
  flags
      .Add("--login-backoff-max", &options->login_backoff_max_s, "RINGCAST_LOGIN_BACKOFF_MAX",
           "Longest wait of the per-address login backoff, seconds")
      ->check(CLI::Range(1, 3600));
  flags
      .Add("--register-rate-ip", &options->register_rate_ip, "RINGCAST_REGISTER_RATE_IP",
           "Registrations (POST /api/register) per minute per client address, over the whole "
           "cluster (429 past it)")
      ->check(CLI::Range(1, 1000000));
  flags
      .Add("--password-cost", &options->password_cost, "RINGCAST_PASSWORD_COST",
           "log2 of scrypt's N for new password hashes (14: ~50 ms; lower only for "
           "tests/benchmarks)")
      ->check(CLI::Range(10, 20));
  flags.AddSecretFile({"jwt-secret", "--jwt-secret-file", "RINGCAST_JWT_SECRET_FILE"});
  flags.AddSecretFile({"admin-token", "--admin-token-file", "RINGCAST_ADMIN_TOKEN_FILE"});
}

}  // namespace ringcast::chat
