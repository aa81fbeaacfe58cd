#include "core/config.h"

#include <netdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <type_traits>
#include <utility>

#include "core/cluster/redis_bus.h"
#include "core/config_file.h"
#include "core/version.h"

namespace ringcast {
namespace {

bool IsDirectory(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

// A folder shipped with this binary, found from the executable's own location (not the working
// directory, which a service manager chooses): installed, <prefix>/bin/ringcast serves
// <prefix>/share/ringcast/<name> (the Docker image's layout); in a build tree,
// build/<preset>/core/ringcast serves the checkout's folder (`from_binary`, the relative path
// CMake computed). "" when neither exists.
std::string ShippedFolder(const std::string& name, const std::string& from_binary) {
  std::error_code error;
  const std::filesystem::path binary = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "";
  const std::filesystem::path dir = binary.parent_path();
  for (const std::filesystem::path& candidate :
       {dir / "../share/ringcast" / name, dir / from_binary}) {
    std::string path = candidate.lexically_normal().string();
    if (IsDirectory(path)) return path;
  }
  return "";
}

// A served folder (--web-root, --sdk-root): the shipped one when neither the flag nor its
// variable is given; an empty value (flag or variable: CLI11 ignores an empty variable, so it
// is read here) serves none. Absolute, but not resolved: a root that is a symbolic link
// (switched at each deploy) is followed afresh by every request. False when it is no directory.
bool ResolveServedFolder(const CLI::Option& option, const char* env_name, std::string value,
                         const std::string& shipped, std::string* out, bool* not_found) {
  const char* env = std::getenv(env_name);
  if (option.count() == 0 && env == nullptr) {
    *out = shipped;
    *not_found = shipped.empty();
    return true;
  }
  if (option.count() == 0) value = env;
  if (value.empty()) {
    out->clear();
    return true;
  }
  if (!IsDirectory(value)) {
    std::fprintf(stderr, "ringcast: %s: %s is not a directory\n", option.get_name().c_str(),
                 value.c_str());
    return false;
  }
  *out = std::filesystem::absolute(value).lexically_normal().string();
  return true;
}

// A validator for the number flags: empty when `text` reads as a number (its range is checked
// next), else the message.
std::string NumberCheck(std::string& text) {
  long double number = 0;
  if (CLI::detail::lexical_cast(text, number)) return "";
  return "'" + text + "' is not a number";
}

// The listening address must resolve before anything starts (the store, the shards): each shard
// would otherwise find out on its own, after the store had opened. Numeric or a name.
bool CheckListenHost(const char* flag, const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* result = nullptr;
  if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result); rc != 0) {
    std::fprintf(stderr, "ringcast: %s: cannot resolve '%s': %s\n", flag, host.c_str(),
                 gai_strerror(rc));
    return false;
  }
  freeaddrinfo(result);
  return true;
}

}  // namespace

int ParseConfig(int argc, char** argv, Config* config) {
  CLI::App app{"ringcast: io_uring WebSocket fan-out and chat server"};
  app.option_defaults()->always_capture_default();
  ConfigLayers layers(app, argc, argv);
  std::string config_file;
  app.add_option("--config", config_file,
                 "A TOML or INI file of settings (key = flag name without the dashes); the "
                 "command line and RINGCAST_* variables override it")
      ->envname("RINGCAST_CONFIG");
  bool print_config = false;
  app.add_flag("--print-config", print_config,
               "Print the effective configuration (secrets redacted) in the --config format, "
               "and exit");
  bool print_version = false;
  app.add_flag("--version", print_version,
               "Print the version, the commit and the io_uring features this kernel grants, and "
               "exit");
  auto add = [&app](const char* flag, auto* value, const char* env, const char* help) {
    CLI::Option* option = app.add_option(flag, *value, help)->envname(env);
    // First, before any range check: CLI11's own message for "abc" would be "Value abc not in
    // range 1 to 65535", which reads as if abc were a number that is too big.
    using Value = std::remove_pointer_t<decltype(value)>;
    if constexpr (std::is_arithmetic_v<Value> && !std::is_same_v<Value, bool>) {
      option->check(CLI::Validator(NumberCheck, "NUMBER"));
    }
    return option;
  };
  add("--host", &config->host, "RINGCAST_HOST", "Address to listen on");
  add("--port", &config->port, "RINGCAST_PORT", "TCP port to listen on")
      ->check(CLI::Range(1, 65535));
  if (config->threads == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    config->threads = cpus > 0 ? static_cast<uint32_t>(cpus < 64 ? cpus : 64) : 1;
  }
  add("--threads", &config->threads, "RINGCAST_THREADS",
      "Shards, one thread each (default: online CPUs)")
      ->check(CLI::Range(1, 64));
  add("--workers", &config->workers, "RINGCAST_WORKERS",
      "Threads for blocking work (password hashing, storage reads)")
      ->check(CLI::Range(1, 64));
  app.add_flag("--raw-channels,!--no-raw-channels", config->raw_channels,
               "Enable the unauthenticated /raw/{channel} fan-out route")
      ->envname("RINGCAST_RAW_CHANNELS")
      ->default_str("off");
  add("--max-message-size", &config->max_message_size, "RINGCAST_MAX_MESSAGE_SIZE",
      "Largest WebSocket message accepted, bytes (larger: close 1009)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 31));
  add("--max-outbound-bytes", &config->max_outbound_bytes, "RINGCAST_MAX_OUTBOUND_BYTES",
      "Queued unsent bytes per connection before it is cut off (close 1008)")
      ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 40));
  add("--idle-timeout", &config->idle_timeout_s, "RINGCAST_IDLE_TIMEOUT",
      "Seconds without input before a ping; as long again without input closes (1001). A "
      "streamed answer (a file download) whose client takes nothing this long is closed")
      ->check(CLI::Range(1, 86400));
  add("--handshake-timeout", &config->handshake_timeout_s, "RINGCAST_HANDSHAKE_TIMEOUT",
      "Seconds to receive a complete HTTP request")
      ->check(CLI::Range(1, 3600));
  add("--shutdown-timeout", &config->shutdown_timeout_s, "RINGCAST_SHUTDOWN_TIMEOUT",
      "Seconds to wait for close handshakes on SIGINT/SIGTERM")
      ->check(CLI::Range(0, 3600));
  add("--close-timeout", &config->close_timeout_s, "RINGCAST_CLOSE_TIMEOUT",
      "Seconds to wait for the peer's close frame / EOF after we close")
      ->check(CLI::Range(1, 3600));
  add("--max-connections", &config->max_connections, "RINGCAST_MAX_CONNECTIONS",
      "Connections per shard")
      ->check(CLI::Range(1, 1 << 20));
  add("--max-header-bytes", &config->max_header_bytes, "RINGCAST_MAX_HEADER_BYTES",
      "Largest HTTP request head (larger: 431)")
      ->check(CLI::Range(256, 1 << 20));
  add("--max-body-bytes", &config->max_body_bytes, "RINGCAST_MAX_BODY_BYTES",
      "Largest HTTP request body (larger: 413)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 30));
  add("--recv-buffer-size", &config->recv_buffer_size, "RINGCAST_RECV_BUFFER_SIZE",
      "Bytes per provided receive buffer")
      ->check(CLI::Range(1024, 1 << 20));
  add("--recv-buffers", &config->recv_buffers, "RINGCAST_RECV_BUFFERS",
      "Provided receive buffers per shard (power of two)")
      ->check(CLI::Range(8, 32768));
  app.add_flag("--direct-descriptors,!--no-direct-descriptors", config->direct_descriptors,
               "Accept into io_uring direct descriptors, not limited by the process fd table")
      ->envname("RINGCAST_DIRECT_DESCRIPTORS")
      ->default_str("on");
  app.add_flag("--fixed-fd-install,!--no-fixed-fd-install", config->fixed_fd_install,
               "With direct descriptors, learn a client's address with IORING_OP_FIXED_FD_INSTALL "
               "where the kernel has it (6.8+); off: accept with the address, as on older kernels")
      ->envname("RINGCAST_FIXED_FD_INSTALL")
      ->default_str("on");
  add("--max-mail-backlog", &config->max_mail_backlog, "RINGCAST_MAX_MAIL_BACKLOG",
      "Mails one shard holds for another beyond their 4096-mail queue; more are refused")
      ->check(CLI::Range(1024, 1 << 26));
  add("--inbox-size", &config->inbox_size, "RINGCAST_INBOX_SIZE",
      "Mails from worker, storage and bus threads queued per shard; past it they overflow "
      "(the bus's: at most as many again, then refused and refetched from the store)")
      ->check(CLI::Range(64, 1 << 24));
  app.add_flag("--pin-threads,!--no-pin-threads", config->pin_threads,
               "Pin each shard thread to its own CPU")
      ->envname("RINGCAST_PIN_THREADS")
      ->default_str("on");
  add("--log-level", &config->log_level, "RINGCAST_LOG_LEVEL", "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  add("--log-format", &config->log_format, "RINGCAST_LOG_FORMAT",
      "Log lines (stderr) and access log lines as text or json (one JSON object a line)")
      ->check(CLI::IsMember({"text", "json"}));
  add("--log-buffer-lines", &config->log_buffer_lines, "RINGCAST_LOG_BUFFER_LINES",
      "Log lines waiting for the logger thread at most (rounded up to a power of two, 1 KiB "
      "each); past it lines are dropped and counted, never waited for")
      ->check(CLI::Range(64, 1 << 20));
  add("--access-log", &config->access_log, "RINGCAST_ACCESS_LOG",
      "One line per HTTP request and per WebSocket session: '-' to stderr, or a file to append "
      "to; empty: off");
  add("--metrics-port", &config->metrics_port, "RINGCAST_METRICS_PORT",
      "Serve GET /metrics (Prometheus) on this port of --metrics-address, on a thread of its "
      "own; 0: no such listener")
      ->check(CLI::Range(0, 65535));
  add("--metrics-address", &config->metrics_address, "RINGCAST_METRICS_ADDRESS",
      "Address of the --metrics-port listener (the default keeps it off the network)");
  app.add_flag("--metrics-on-main-port,!--no-metrics-on-main-port", config->metrics_on_main_port,
               "Also serve GET /metrics on the main (public) port: only where nothing untrusted "
               "reaches it, or behind a proxy that refuses /metrics")
      ->envname("RINGCAST_METRICS_ON_MAIN_PORT")
      ->default_str("off");
  std::string web_root;
  CLI::Option* web_root_option =
      add("--web-root", &web_root, "RINGCAST_WEB_ROOT",
          "Directory whose files are served at / (the web app); empty: none. Default: the web/ "
          "folder shipped with the binary (<prefix>/share/ringcast/web, or the checkout's web/ "
          "for a build tree)")
          ->default_str("shipped web/");
  std::string sdk_root;
  CLI::Option* sdk_root_option =
      add("--sdk-root", &sdk_root, "RINGCAST_SDK_ROOT",
          "Directory whose files are served at /sdk/ (the JavaScript SDK's modules, for pages "
          "that import it); empty: none. Default: the SDK shipped with the binary "
          "(<prefix>/share/ringcast/sdk, or the checkout's clients/js/src for a build tree)")
          ->default_str("shipped SDK");
  add("--max-static-bytes", &config->max_static_bytes, "RINGCAST_MAX_STATIC_BYTES",
      "Largest file served from --web-root, bytes (a bigger one is answered 500)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30));
  add("--static-max-age", &config->static_max_age_s, "RINGCAST_STATIC_MAX_AGE",
      "Seconds browsers may use a cached file from --web-root other than HTML without asking "
      "again (HTML: always revalidated); 0: always revalidate")
      ->check(CLI::Range(0, 366 * 86400));
  add("--max-static-reads", &config->max_static_reads, "RINGCAST_MAX_STATIC_READS",
      "File reads from --web-root queued or running on the workers per shard (more: 503)")
      ->check(CLI::Range(1, 1 << 16));

  add("--data-dir", &config->data_dir, "RINGCAST_DATA_DIR",
      "Directory of the chat store (created if missing)");
  add("--jwt-secret", &config->jwt_secret, "RINGCAST_JWT_SECRET",
      "Token signing secret, at least 32 bytes (default: generated once, kept in the data dir)");
  add("--max-upload-bytes", &config->max_upload_bytes, "RINGCAST_MAX_UPLOAD_BYTES",
      "Largest file POST /api/uploads takes, bytes (a bigger one: 413)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  add("--upload-quota-bytes", &config->upload_quota_bytes, "RINGCAST_UPLOAD_QUOTA_BYTES",
      "Bytes of uploads each user may hold in all (past it: 507)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 50));
  add("--files-dir", &config->files_dir, "RINGCAST_FILES_DIR",
      "Directory of uploaded files (default: <data-dir>/files); in cluster mode one every node "
      "mounts (a shared volume), since any node may serve any file");
  add("--file-url-ttl", &config->file_url_ttl_s, "RINGCAST_FILE_URL_TTL",
      "Seconds a signed file URL (/files/{id}?exp=&sig=, for a CDN) stays valid")
      ->check(CLI::Range(1, 7 * 86400));
  add("--upload-orphan-ttl", &config->upload_orphan_ttl_s, "RINGCAST_UPLOAD_ORPHAN_TTL",
      "Seconds an upload may wait to be attached to a message; one no message carries is then "
      "deleted (its file too when no other upload has the same bytes) and its bytes leave the "
      "quota; 0: uploads are kept forever")
      ->check(CLI::Range(0, 366 * 86400));
  add("--token-ttl", &config->token_ttl_s, "RINGCAST_TOKEN_TTL",
      "Seconds an access token is valid; a WebSocket opened with it is closed 4001 at its expiry "
      "unless an auth message gave it a newer one")
      ->check(CLI::Range(1, 366 * 86400));
  add("--refresh-token-ttl", &config->refresh_token_ttl_s, "RINGCAST_REFRESH_TOKEN_TTL",
      "Seconds a refresh token (POST /api/token/refresh, rotated at each use) is valid")
      ->check(CLI::Range(1, 366 * 86400));
  add("--token-refresh-notice", &config->token_refresh_notice_s, "RINGCAST_TOKEN_REFRESH_NOTICE",
      "Seconds before its token expires that a WebSocket gets {\"type\":\"token_expiring\"}")
      ->check(CLI::Range(0, 86400));
  add("--presence-timeout", &config->presence_timeout_s, "RINGCAST_PRESENCE_TIMEOUT",
      "Seconds without a heartbeat before a chat connection is closed and counts as offline")
      ->check(CLI::Range(1, 86400));
  add("--presence-grace", &config->presence_grace_s, "RINGCAST_PRESENCE_GRACE",
      "Seconds a user stays online after their last connection closes")
      ->check(CLI::Range(0, 3600));
  add("--idle-state-ttl", &config->idle_state_ttl_s, "RINGCAST_IDLE_STATE_TTL",
      "Seconds a conversation's owner keeps its record once no connection is in it and nothing "
      "happens in it")
      ->check(CLI::Range(1, 86400));
  add("--store-cache-mib", &config->store_cache_mib, "RINGCAST_STORE_CACHE_MIB",
      "SQLite page cache of each store connection (writer, readers), in MiB")
      ->check(CLI::Range(1, 65536));
  add("--wal-bound-mib", &config->wal_bound_mib, "RINGCAST_WAL_BOUND_MIB",
      "SQLite: the WAL is kept below this many MiB (started over, writes held briefly, at half "
      "of it; a warning past it); 0: unbounded")
      ->check(CLI::Range(0, 1 << 20));
  add("--wal-hard-cap-mib", &config->wal_hard_cap_mib, "RINGCAST_WAL_HARD_CAP_MIB",
      "SQLite: past this many MiB of WAL, writes are answered unavailable until a checkpoint "
      "starts it over; 0: never refuse")
      ->check(CLI::Range(0, 1 << 20));
  add("--wal-idle-checkpoint-ms", &config->wal_idle_checkpoint_ms,
      "RINGCAST_WAL_IDLE_CHECKPOINT_MS",
      "SQLite: after this many ms without a write the WAL is copied back and truncated; 0: never")
      ->check(CLI::Range(0, 3600000));
  add("--wal-restart-wait-ms", &config->wal_restart_wait_ms, "RINGCAST_WAL_RESTART_WAIT_MS",
      "SQLite: how long a checkpoint that starts the WAL over waits for readers, writes held")
      ->check(CLI::Range(1, 60000));
  add("--sqlite-page-size", &config->sqlite_page_size, "RINGCAST_SQLITE_PAGE_SIZE",
      "SQLite: page size in bytes of a database file the server creates (an existing file "
      "keeps its own)")
      ->check(CLI::IsMember({512, 1024, 2048, 4096, 8192, 16384, 32768, 65536}));
  add("--sqlite-recent-cids", &config->sqlite_recent_cids, "RINGCAST_SQLITE_RECENT_CIDS",
      "SQLite: cids of the newest messages held in memory before they are merged into the "
      "de-duplication index in bulk (about 100 bytes each; appends are refused at twice this)")
      ->check(CLI::Range(1024, 1 << 22));
  add("--max-conns-per-user", &config->max_conns_per_user, "RINGCAST_MAX_CONNS_PER_USER",
      "Chat connections one user may hold at once, over all shards")
      ->check(CLI::Range(1, 100000));
  add("--max-conns-per-ip", &config->max_conns_per_ip, "RINGCAST_MAX_CONNS_PER_IP",
      "Chat WebSocket connections one client address may hold at once on this node (the "
      "address a --trusted-proxies proxy forwards); past it the upgrade is answered 429")
      ->check(CLI::Range(1, 1 << 24));
  add("--batch-max", &config->batch_max, "RINGCAST_BATCH_MAX",
      "Writes committed in one transaction at most")
      ->check(CLI::Range(1, 100000));
  add("--max-store-queue", &config->max_store_queue, "RINGCAST_MAX_STORE_QUEUE",
      "Store jobs waiting to run at most (SQLite: writes and reads each; PostgreSQL: all); "
      "past it a request is answered unavailable at once")
      ->check(CLI::Range(64, 16777216));
  add("--batch-delay-us", &config->batch_delay_us, "RINGCAST_BATCH_DELAY_US",
      "Microseconds to wait for a partial batch to fill (0: commit what is there)")
      ->check(CLI::Range(0, 1000000));
  add("--commit-interval-us", &config->commit_interval_us, "RINGCAST_COMMIT_INTERVAL_US",
      "SQLite: a commit begins at least this long after the previous one began, the writes "
      "that arrive meanwhile joining it; after a pause a write commits at once (0: no pacing)")
      ->check(CLI::Range(0, 100000));
  add("--synchronous", &config->synchronous, "RINGCAST_SYNCHRONOUS",
      "SQLite synchronous mode: full (an ack survives power loss) or normal (survives a crash)")
      ->check(CLI::IsMember({"full", "normal"}));
  add("--database-url", &config->database_url, "RINGCAST_DATABASE_URL",
      "PostgreSQL connection string or URL (postgres://user:pass@host:port/db); empty: the "
      "embedded SQLite store in --data-dir");
  add("--db-writers", &config->db_writers, "RINGCAST_DB_WRITERS",
      "PostgreSQL writer connections (conversations are spread over them)")
      ->check(CLI::Range(1, 64));
  add("--db-readers", &config->db_readers, "RINGCAST_DB_READERS",
      "PostgreSQL reader connections (history, sync, lists, logins)")
      ->check(CLI::Range(1, 64));
  add("--db-timeout-ms", &config->db_timeout_ms, "RINGCAST_DB_TIMEOUT_MS",
      "PostgreSQL: an operation not answered within this many milliseconds (the database down "
      "or stalled) fails as unavailable")
      ->check(CLI::Range(100, 600000));
  add("--pg-synchronous-commit", &config->pg_synchronous_commit, "RINGCAST_PG_SYNCHRONOUS_COMMIT",
      "PostgreSQL synchronous_commit of the writers: on (an ack survives a database crash) or "
      "off, local, remote_write, remote_apply (storage/README.md)")
      ->check(CLI::IsMember({"on", "off", "local", "remote_write", "remote_apply"}));
  app.add_flag("--web-push,!--no-web-push", config->web_push,
               "Send offline notifications to the browsers users subscribed (Web Push, "
               "POST /api/push/subscriptions); the subscription routes work either way")
      ->envname("RINGCAST_WEB_PUSH")
      ->default_str("off");
  add("--vapid-subject", &config->vapid_subject, "RINGCAST_VAPID_SUBJECT",
      "Web Push: the contact that VAPID tokens name (sub, RFC 8292): a mailto: or https: URL "
      "where push services can reach this server's operator")
      ->check([](const std::string& value) {
        return value.starts_with("mailto:") || value.starts_with("https:")
                   ? std::string()
                   : std::string("must start with mailto: or https:");
      });
  add("--push-max-subscriptions", &config->push_max_subscriptions,
      "RINGCAST_PUSH_MAX_SUBSCRIPTIONS",
      "Web Push subscriptions (browsers) kept per user; a new one past it replaces the oldest")
      ->check(CLI::Range(1, 1000));
  add("--push-ttl", &config->push_ttl_s, "RINGCAST_PUSH_TTL",
      "Web Push: seconds a push service keeps a notification for an offline browser (TTL)")
      ->check(CLI::Range(0, 28 * 86400));
  add("--push-timeout-ms", &config->push_timeout_ms, "RINGCAST_PUSH_TIMEOUT_MS",
      "Web Push: milliseconds one request to a push service may take")
      ->check(CLI::Range(100, 600000));
  app.add_flag("--push-allow-http,!--no-push-allow-http", config->push_allow_http,
               "Web Push: accept subscription endpoints over plain http (tests, push services "
               "on a private network); off: https only")
      ->envname("RINGCAST_PUSH_ALLOW_HTTP")
      ->default_str("off");
  add("--smtp", &config->smtp_url, "RINGCAST_SMTP",
      "Email digests: smtp://[user:pass@]host[:port] (STARTTLS when offered) or smtps://; "
      "empty: no emails")
      ->check([](const std::string& value) {
        return value.empty() || value.starts_with("smtp://") || value.starts_with("smtps://")
                   ? std::string()
                   : std::string("must be smtp://... or smtps://...");
      });
  add("--email-from", &config->email_from, "RINGCAST_EMAIL_FROM",
      "Email digests: the sender address (envelope and From)");
  add("--email-digest-after", &config->email_digest_after_s, "RINGCAST_EMAIL_DIGEST_AFTER",
      "Email digests: seconds a message stays unread and undelivered before its recipient is "
      "mailed a digest")
      ->check(CLI::Range(1, 30 * 86400));
  add("--email-digest-batch", &config->email_digest_batch, "RINGCAST_EMAIL_DIGEST_BATCH",
      "Email digests: users read from the store per query")
      ->check(CLI::Range(1, 100000));
  add("--redis", &config->redis_url, "RINGCAST_REDIS_URL",
      "Cluster mode: redis://[:password@]host:port[/db] that every node shares for fan-out "
      "(docs/cluster.md); needs --database-url. Empty: a single node");
  add("--node-id", &config->node_id, "RINGCAST_NODE_ID",
      "This node's name in the cluster, 1-64 of [A-Za-z0-9._-] (default: generated once, kept "
      "in the data dir)");
  add("--redis-max-queued", &config->redis_max_queued, "RINGCAST_REDIS_MAX_QUEUED",
      "Publications waiting for Redis at most (while it is slow or away); more are dropped and "
      "the other nodes read them from the store")
      ->check(CLI::Range(16, 1 << 24));
  add("--gap-fill-delay-ms", &config->gap_fill_delay_ms, "RINGCAST_GAP_FILL_DELAY_MS",
      "How long a conversation waits for a missing message (from Redis in cluster mode, or a "
      "commit whose answer was lost) before reading it from the store")
      ->check(CLI::Range(1, 60000));
  add("--cluster-check-interval", &config->cluster_check_interval_s,
      "RINGCAST_CLUSTER_CHECK_INTERVAL",
      "Cluster mode: seconds between checks of every followed conversation's newest seq "
      "against the store (catches a lost last publication)")
      ->check(CLI::Range(1, 3600));
  add("--node-ttl", &config->node_ttl_s, "RINGCAST_NODE_TTL",
      "Cluster mode: seconds a node stays in the registry without a heartbeat (one a second); "
      "past it the node counts as dead and its users go offline after --presence-grace")
      ->check(CLI::Range(2, 3600));
  app.add_flag("--forward-sends,!--no-forward-sends", config->forward_sends,
               "Cluster mode: commit each conversation's messages on one node (chosen by "
               "rendezvous hashing over the live nodes), forwarding sends to it through Redis "
               "(docs/cluster.md, \"Writers\")")
      ->envname("RINGCAST_FORWARD_SENDS")
      ->default_str("on");
  add("--forward-timeout-ms", &config->forward_timeout_ms, "RINGCAST_FORWARD_TIMEOUT_MS",
      "Cluster mode: a forwarded send whose writer has not answered within this many "
      "milliseconds is committed by this node (safe: the cid makes it a duplicate if the "
      "writer did commit it), and that writer is skipped for --node-ttl")
      ->check(CLI::Range(10, 60000));
  add("--advertise-address", &config->advertise_address, "RINGCAST_ADVERTISE_ADDRESS",
      "Cluster mode: the host:port this node shows in the registry (default: --host:--port, "
      "the host name when listening on every address)");
  add("--admin-token", &config->admin_token, "RINGCAST_ADMIN_TOKEN",
      "Bearer token for operator routes (GET /api/cluster); empty: those routes answer 403");
  add("--reconnect-jitter-ms", &config->reconnect_jitter_ms, "RINGCAST_RECONNECT_JITTER_MS",
      "Cluster mode: on SIGTERM each chat client is told to reconnect (to any node) after a "
      "delay drawn uniformly from 0 to this many milliseconds, then closed 1012")
      ->check(CLI::Range(0, 3600000));
  add("--msg-rate", &config->msg_rate, "RINGCAST_MSG_RATE",
      "Chat requests per second per connection (bursts of twice that)")
      ->check(CLI::Range(1, 100000000));
  add("--max-chat-body", &config->max_chat_body, "RINGCAST_MAX_CHAT_BODY",
      "Largest chat message body, bytes")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 24));
  add("--sync-limit", &config->sync_limit, "RINGCAST_SYNC_LIMIT",
      "Messages per conversation in one sync answer")
      ->check(CLI::Range(1, 100000));
  add("--max-answer-bytes", &config->max_answer_bytes, "RINGCAST_MAX_ANSWER_BYTES",
      "Bytes of messages in one sync or history answer (at least one message; the rest: more)")
      ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 30));
  add("--max-group-size", &config->max_group_size, "RINGCAST_MAX_GROUP_SIZE",
      "Members of one conversation at most")
      ->check(CLI::Range(2, 1000000));
  add("--login-rate-user", &config->login_rate_user, "RINGCAST_LOGIN_RATE_USER",
      "Failed logins per minute on one username from one client address (429 past it)")
      ->check(CLI::Range(1, 1000000));
  add("--login-rate-ip", &config->login_rate_ip, "RINGCAST_LOGIN_RATE_IP",
      "Failed logins per minute per client address, on any usernames (429 past it)")
      ->check(CLI::Range(1, 1000000));
  add("--login-rate-account", &config->login_rate_account, "RINGCAST_LOGIN_RATE_ACCOUNT",
      "Failed logins per minute on one username from all addresses together (429 past it, for "
      "every address: the cap on a guess spread over many addresses)")
      ->check(CLI::Range(1, 1000000));
  add("--login-backoff-after", &config->login_backoff_after, "RINGCAST_LOGIN_BACKOFF_AFTER",
      "Failed logins per minute from one client address before it must wait 1 s, then 2, 4... "
      "after each further failure (0: no backoff)")
      ->check(CLI::Range(0, 1000000));
  add("--login-backoff-max", &config->login_backoff_max_s, "RINGCAST_LOGIN_BACKOFF_MAX",
      "Longest wait of the per-address login backoff, seconds")
      ->check(CLI::Range(1, 3600));
  add("--register-rate-ip", &config->register_rate_ip, "RINGCAST_REGISTER_RATE_IP",
      "Registrations (POST /api/register) per minute per client address, over the whole cluster "
      "(429 past it)")
      ->check(CLI::Range(1, 1000000));
  add("--max-pending-registrations", &config->max_pending_registrations,
      "RINGCAST_MAX_PENDING_REGISTRATIONS",
      "New accounts' password hashes queued or running on this node (503 past it); they run on "
      "at most half the --workers, so logins are never queued behind them")
      ->check(CLI::Range(1, 1000000));
  add("--workers-login-queue", &config->workers_login_queue, "RINGCAST_WORKERS_LOGIN_QUEUE",
      "Logins' password checks queued or running on the workers (503 past it)")
      ->check(CLI::Range(1, 1000000));
  add("--workers-media-queue", &config->workers_media_queue, "RINGCAST_WORKERS_MEDIA_QUEUE",
      "Uploaded images' thumbnails queued or running on the workers (503 past it)")
      ->check(CLI::Range(1, 1000000));
  add("--workers-file-queue", &config->workers_file_queue, "RINGCAST_WORKERS_FILE_QUEUE",
      "Static file reads queued or running on the workers (503 past it)")
      ->check(CLI::Range(1, 1000000));
  std::string trusted_proxies;
  add("--trusted-proxies", &trusted_proxies, "RINGCAST_TRUSTED_PROXIES",
      "Comma-separated addresses and networks (10.0.0.5, 10.1.0.0/16, fd00::/8) of reverse "
      "proxies whose X-Forwarded-For or X-Real-IP names the client for the per-address limits "
      "(logins, registrations, connections); from any other peer those headers are ignored. "
      "Empty: trust nobody")
      ->default_str("");
  add("--password-cost", &config->password_cost, "RINGCAST_PASSWORD_COST",
      "log2 of scrypt's N for new password hashes (14: ~50 ms; lower only for tests/benchmarks)")
      ->check(CLI::Range(10, 20));

  add("--notify-delay", &config->notify_delay_ms, "RINGCAST_NOTIFY_DELAY",
      "Milliseconds after a message is committed before a member who has neither read it nor "
      "had it delivered (offline everywhere) is notified; messages within this window of the "
      "first collapse into one notification (notify/README.md)")
      ->check(CLI::Range(1, 86400000));
  add("--notify-poll-ms", &config->notify_poll_ms, "RINGCAST_NOTIFY_POLL_MS",
      "How often the notifier looks for due notifications; 0: a quarter of --notify-delay "
      "(50 ms to 1 s)")
      ->check(CLI::Range(0, 60000));
  add("--notify-batch", &config->notify_batch, "RINGCAST_NOTIFY_BATCH",
      "Due notifications the notifier reads and handles per poll at most")
      ->check(CLI::Range(1, 100000));
  add("--notify-max-attempts", &config->notify_max_attempts, "RINGCAST_NOTIFY_MAX_ATTEMPTS",
      "Attempts per sink before a notification is dead-lettered (logged, counted, never retried)")
      ->check(CLI::Range(1, 1000));
  add("--notify-backoff-ms", &config->notify_backoff_ms, "RINGCAST_NOTIFY_BACKOFF_MS",
      "Delay before a failed notification's first retry; it doubles per attempt, up to 60 s")
      ->check(CLI::Range(1, 600000));
  add("--notify-webhook", &config->notify_webhook, "RINGCAST_NOTIFY_WEBHOOK",
      "http:// or https:// URL that every due notification is POSTed to as signed JSON "
      "(notify/README.md); empty: no webhook");
  add("--notify-webhook-secret", &config->notify_webhook_secret, "RINGCAST_NOTIFY_WEBHOOK_SECRET",
      "HMAC-SHA256 key of the webhook's Ringcast-Signature header (needed with --notify-webhook)");
  add("--notify-webhook-timeout-ms", &config->notify_webhook_timeout_ms,
      "RINGCAST_NOTIFY_WEBHOOK_TIMEOUT_MS",
      "A webhook call not answered within this many milliseconds is retried")
      ->check(CLI::Range(100, 600000));
  add("--amqp", &config->amqp_url, "RINGCAST_AMQP_URL",
      "amqp://user:pass@host:port/vhost: every background job is also published to this "
      "RabbitMQ (notify/README.md); empty: none");
  add("--amqp-exchange", &config->amqp_exchange, "RINGCAST_AMQP_EXCHANGE",
      "The topic exchange jobs are published to (declared durable)");
  add("--amqp-max-queued", &config->amqp_max_queued, "RINGCAST_AMQP_MAX_QUEUED",
      "Jobs waiting for the broker at most; more are dropped (and counted)")
      ->check(CLI::Range(1, 10000000));

  layers.AddSecretFiles({
      {"jwt-secret", "--jwt-secret-file", "RINGCAST_JWT_SECRET_FILE"},
      {"database-url", "--database-url-file", "RINGCAST_DATABASE_URL_FILE"},
      {"redis", "--redis-url-file", "RINGCAST_REDIS_URL_FILE"},
      {"admin-token", "--admin-token-file", "RINGCAST_ADMIN_TOKEN_FILE"},
      {"notify-webhook-secret", "--notify-webhook-secret-file",
       "RINGCAST_NOTIFY_WEBHOOK_SECRET_FILE"},
      {"amqp", "--amqp-url-file", "RINGCAST_AMQP_URL_FILE"},
      {"smtp", "--smtp-url-file", "RINGCAST_SMTP_URL_FILE"},
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& error) {
    std::string what = error.what();
    for (char& c : what) c = c == '\n' ? ' ' : c;
    std::fprintf(stderr, "ringcast: %s (see --help)\n", what.c_str());
    return 2;
  }
  if (print_version) {
    PrintVersion(stdout);
    return 0;
  }
  std::string layer_error;
  if ((!config_file.empty() && !layers.ApplyFile(config_file, &layer_error)) ||
      !layers.ReadSecretFiles(&layer_error)) {
    std::fprintf(stderr, "ringcast: %s\n", layer_error.c_str());
    return 2;
  }
  if ((config->recv_buffers & (config->recv_buffers - 1)) != 0) {
    std::fprintf(stderr, "ringcast: --recv-buffers must be a power of two, got %u\n",
                 config->recv_buffers);
    return 2;
  }
  if (config->wal_hard_cap_mib != 0 && config->wal_hard_cap_mib < config->wal_bound_mib) {
    // Writes would be refused before the bound's checkpoint had a chance to start it over.
    std::fprintf(stderr,
                 "ringcast: --wal-hard-cap-mib (%u) must be at least --wal-bound-mib (%u), or 0\n",
                 unsigned(config->wal_hard_cap_mib), unsigned(config->wal_bound_mib));
    return 2;
  }
  if (!CheckListenHost("--host", config->host) ||
      (config->metrics_port != 0 &&
       !CheckListenHost("--metrics-address", config->metrics_address))) {
    return 2;
  }
  if (!config->notify_webhook.empty() && config->notify_webhook_secret.empty()) {
    std::fprintf(stderr,
                 "ringcast: --notify-webhook needs --notify-webhook-secret (or "
                 "--notify-webhook-secret-file): the receiver checks each call's signature\n");
    return 2;
  }
  if (!config->redis_url.empty()) {
    std::string error;
    if (!cluster::RedisAddress::Parse(config->redis_url, &error)) {
      std::fprintf(stderr, "ringcast: --redis: %s\n", error.c_str());
      return 2;
    }
    if (config->database_url.empty()) {
      std::fprintf(stderr,
                   "ringcast: --redis (cluster mode) needs --database-url: every node of a "
                   "cluster shares one PostgreSQL store, and the SQLite store in --data-dir "
                   "belongs to one node\n");
      return 2;
    }
  }
  if (!ResolveServedFolder(*web_root_option, "RINGCAST_WEB_ROOT", web_root,
                           ShippedFolder("web", RINGCAST_WEB_FROM_BINARY), &config->web_root,
                           &config->web_root_not_found) ||
      !ResolveServedFolder(*sdk_root_option, "RINGCAST_SDK_ROOT", sdk_root,
                           ShippedFolder("sdk", RINGCAST_SDK_FROM_BINARY), &config->sdk_root,
                           &config->sdk_root_not_found)) {
    return 2;
  }
  std::string proxies_error;
  auto proxies = TrustedProxies::Parse(trusted_proxies, &proxies_error);
  if (!proxies) {
    std::fprintf(stderr, "ringcast: --trusted-proxies: %s\n", proxies_error.c_str());
    return 2;
  }
  config->trusted_proxies = std::move(*proxies);
  if (!config->node_id.empty() && !cluster::ValidNodeId(config->node_id)) {
    std::fprintf(stderr, "ringcast: --node-id must be 1-64 of [A-Za-z0-9._-], got '%s'\n",
                 config->node_id.c_str());
    return 2;
  }
  if (print_config) {
    // Folders resolved after parsing: their effective path, not the help text's "shipped".
    std::string text = layers.Print({{"web-root", [config] { return config->web_root; }},
                                     {"sdk-root", [config] { return config->sdk_root; }}});
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  return -1;
}

}  // namespace ringcast
