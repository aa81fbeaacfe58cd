// Server configuration: every flag, its default, and its environment variable.
#pragma once

#include <cstdint>
#include <string>

#include "core/net/client_address.h"

namespace ringcast {

struct Config {
  std::string host = "0.0.0.0";
  uint16_t port = 8080;
  uint32_t threads = 0;  // Shards; ParseConfig defaults it to the online CPUs.
  uint32_t workers = 2;  // Threads for blocking work (worker_pool.h).
  bool raw_channels = false;
  uint64_t max_message_size = 1 << 20;
  uint64_t max_outbound_bytes = 4 << 20;
  uint32_t idle_timeout_s = 120;
  uint32_t handshake_timeout_s = 10;
  uint32_t shutdown_timeout_s = 5;
  uint32_t close_timeout_s = 5;
  uint32_t max_connections = 20000;  // Per shard.
  uint32_t max_header_bytes = 8192;
  uint64_t max_body_bytes = 1 << 20;
  uint32_t recv_buffer_size = 8192;
  uint32_t recv_buffers = 256;  // Per shard, power of two.
  bool direct_descriptors = true;
  // Ask a direct descriptor's peer address with IORING_OP_FIXED_FD_INSTALL when the kernel has it
  // (6.8); off: accept one connection per request with its address, as on older kernels.
  bool fixed_fd_install = true;
  uint32_t max_mail_backlog = 1 << 20;  // Mails one shard holds for another past its queue.
  uint32_t inbox_size = 16384;          // Mails from non-shard threads queued per shard.
  bool pin_threads = true;
  std::string log_level = "info";
  std::string log_format = "text";   // text or json (core/log.h).
  uint32_t log_buffer_lines = 4096;  // Lines waiting for the logger thread; past it: dropped.
  std::string access_log;            // "": off; "-": stderr; else a file path.
  // GET /metrics (docs/metrics.md): on a listener of its own when metrics_port is set (on
  // metrics_address, loopback by default), on the public port only when metrics_on_main_port
  // says so; by default nowhere, so that a node's figures are never public by accident.
  uint16_t metrics_port = 0;
  std::string metrics_address = "127.0.0.1";
  bool metrics_on_main_port = false;

  // Static files at / (core/routes/static_files.h). Empty web_root: none served. ParseConfig
  // sets it to the shipped web/ folder when neither the flag nor its variable is given.
  std::string web_root;
  // The JavaScript SDK's modules at /sdk/ (clients/js/src), for pages that import them; empty:
  // none. ParseConfig sets it to the shipped SDK like web_root.
  std::string sdk_root;
  // Neither flag nor variable named a root and no shipped folder was found next to the binary
  // (an installation without its share/ringcast): main logs it as a warning, since the web app
  // is then missing by accident, not by choice.
  bool web_root_not_found = false;
  bool sdk_root_not_found = false;
  uint64_t max_static_bytes = 8 << 20;  // Largest file served (bigger: 500).
  uint32_t static_max_age_s = 300;      // Cache-Control max-age of assets other than HTML.
  uint32_t max_static_reads = 64;       // File reads queued or running per shard (more: 503).

  // The chat service (chat/README.md).
  std::string data_dir = "./ringcast-data";
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
  std::string files_dir;  // Uploaded files; empty: <data_dir>/files. Shared by a cluster's nodes.
  uint32_t max_conns_per_user = 16;
  uint32_t max_conns_per_ip = 1024;  // Chat WebSocket connections per client address, per node.
  uint32_t batch_max = 256;
  // Store jobs waiting to run (SQLite: writes and reads each; PostgreSQL: all lanes together);
  // past it a request is answered `unavailable` at once instead of waiting behind seconds of work.
  uint32_t max_store_queue = 65536;
  uint32_t batch_delay_us = 0;
  uint32_t commit_interval_us = 1000;  // SQLite: commit pacing under load.
  std::string synchronous = "full";
  uint32_t store_cache_mib = 32;  // SQLite page cache per store connection.
  // SQLite's WAL (storage/README.md, "Keeping the WAL small"): started over (writes held for a
  // RESTART checkpoint) at half the bound, a warning past it; writes refused past the hard cap
  // (0: never); after this long without a write the WAL is truncated (0: never); how long a
  // RESTART waits for readers.
  uint32_t wal_bound_mib = 256;
  uint32_t wal_hard_cap_mib = 1024;
  uint32_t wal_idle_checkpoint_ms = 1000;
  uint32_t wal_restart_wait_ms = 100;
  uint32_t sqlite_page_size = 1024;     // Of a database file ringcast creates.
  uint32_t sqlite_recent_cids = 32768;  // storage::SqliteChatStore::kDefaultRecentCids.
  std::string database_url;             // PostgreSQL; empty: SQLite in data_dir.
  uint32_t db_writers = 4;
  uint32_t db_readers = 2;
  uint32_t db_timeout_ms = 5000;
  std::string pg_synchronous_commit = "on";
  // Web Push and the email digest (notify/README.md).
  bool web_push = false;  // A WebPushSink among the notifier's sinks.
  std::string vapid_subject = "mailto:ringcast@localhost";  // VAPID's sub (RFC 8292 §2.1).
  uint32_t push_max_subscriptions = 10;                     // Per user; the oldest go first.
  uint32_t push_ttl_s = 86400;                              // TTL header.
  uint32_t push_timeout_ms = 10000;                         // Per request to a push service.
  bool push_allow_http = false;  // Endpoints over plain http (tests, private push services).
  std::string smtp_url;          // Empty: no email digests.
  std::string email_from = "ringcast@localhost";
  uint32_t email_digest_after_s = 900;
  uint32_t email_digest_batch = 100;  // Users per store query of the digest mailer.
  // Cluster mode (docs/cluster.md).
  std::string redis_url;  // Empty: a single node.
  std::string node_id;    // Empty: <data_dir>/node-id, generated once.
  uint32_t redis_max_queued = 65536;
  uint32_t gap_fill_delay_ms = 100;
  uint32_t cluster_check_interval_s = 5;
  uint32_t node_ttl_s = 10;   // Registry entry without a heartbeat, then dead.
  bool forward_sends = true;  // A conversation's messages committed by one node.
  uint32_t forward_timeout_ms = 1000;
  std::string advertise_address;  // Empty: host:port (the host name for 0.0.0.0 / ::).
  std::string admin_token;        // Operator routes; empty: refused.
  // A draining node's chat clients reconnect after a delay drawn from [0, this] each.
  uint32_t reconnect_jitter_ms = 2000;
  uint32_t msg_rate = 100;  // Requests per second per connection; burst twice that.
  uint64_t max_chat_body = 65536;
  uint32_t sync_limit = 500;
  uint64_t max_answer_bytes = 1 << 20;  // Messages in one sync/history answer, bytes.
  uint32_t max_group_size = 1000;
  // Failed logins per minute (chat/README.md, "Login attempts"): per account and address, per
  // address, per account over every address; an address backs off after login_backoff_after.
  uint32_t login_rate_user = 10;
  uint32_t login_rate_ip = 60;
  uint32_t login_rate_account = 1000;
  uint32_t login_backoff_after = 5;
  uint32_t login_backoff_max_s = 60;
  uint32_t register_rate_ip = 10;  // Registrations per minute per client address.
  // New accounts' password hashes queued or running on this node (worker_pool.h); past it: 503.
  uint32_t max_pending_registrations = 64;
  // Worker-pool tasks queued or running per class on this node (worker_pool.h); past it: 503.
  uint32_t workers_login_queue = 256;
  uint32_t workers_media_queue = 32;
  uint32_t workers_file_queue = 1024;
  // Peers whose X-Forwarded-For / X-Real-IP name the client (core/net/client_address.h); empty:
  // nobody's, the TCP peer is the client.
  TrustedProxies trusted_proxies;
  uint32_t password_cost = 14;  // log2 of scrypt's N.

  // Notifications and background jobs (notify/README.md).
  uint32_t notify_delay_ms = 5000;   // After commit, still unread and undelivered: notify.
  uint32_t notify_poll_ms = 0;       // 0: a quarter of the delay (at least 50 ms, at most 1 s).
  uint32_t notify_batch = 256;       // Due notifications read per poll.
  uint32_t notify_max_attempts = 8;  // Per sink, then dead-lettered.
  uint32_t notify_backoff_ms = 500;  // First retry after this; doubles, up to 60 s.
  std::string notify_webhook;        // http(s) URL; empty: no webhook.
  std::string notify_webhook_secret;
  uint32_t notify_webhook_timeout_ms = 5000;
  std::string amqp_url;  // amqp://user:pass@host:port/vhost; empty: no AMQP.
  std::string amqp_exchange = "ringcast";
  uint32_t amqp_max_queued = 10000;  // Jobs waiting for the broker; past it: dropped (counted).
};

// Parses argv, RINGCAST_* environment variables and the --config file into *config (that
// precedence: core/config_file.h). Returns -1 to continue, or an exit status: 0 after --help,
// --print-config or --version, 2 after a bad flag, variable or file entry, or an unreadable
// file (a one-line reason is printed to stderr).
int ParseConfig(int argc, char** argv, Config* config);

}  // namespace ringcast
