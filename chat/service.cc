#include "chat/service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "chat/chat_shard.h"
#include "chat/cluster_link.h"
#include "chat/cluster_presence.h"
#include "chat/upload_api.h"
#include "chat/upload_sweeper.h"
#include "core/log.h"
#include "core/net/file_upload.h"
#include "core/runtime/shard.h"
#include "core/runtime/shard_set.h"
#include "notify/amqp_publisher.h"
#include "notify/email/digest_mailer.h"
#include "notify/notifier.h"
#include "notify/push/vapid_key.h"
#include "storage/await_reply.h"
#include "storage/pg_chat_store.h"
#include "storage/sqlite_chat_store.h"

namespace ringcast::chat {
namespace {

constexpr const char* kSecretFile = "jwt-secret";
constexpr const char* kDatabaseFile = "chat.db";
// At shutdown the store commits what is queued at least this long, whatever is left of
// --shutdown-timeout; what is still queued then is not run.
constexpr std::chrono::milliseconds kMinStoreDrain{500};

// The data dir's secret file: nullopt and *present false when there is none.
std::optional<auth::JwtSecret> ReadSecretFile(const std::filesystem::path& path, bool* present) {
  std::ifstream in(path);
  *present = bool(in);
  if (!in) return std::nullopt;
  std::string hex;
  std::getline(in, hex);
  auto secret = auth::JwtSecret::FromHex(hex);
  if (!secret) {
    std::fprintf(stderr, "ringcast: %s does not hold a hex secret of at least 32 bytes\n",
                 path.c_str());
  }
  return secret;
}

std::optional<auth::JwtSecret> GenerateSecret() {
  auto secret = auth::JwtSecret::Generate();
  if (!secret) std::fprintf(stderr, "ringcast: cannot generate a signing secret (RNG failure)\n");
  return secret;
}

std::optional<auth::JwtSecret> SecretFromFlag(const Config& config) {
  auto secret = auth::JwtSecret::FromBytes(
      {reinterpret_cast<const uint8_t*>(config.jwt_secret.data()), config.jwt_secret.size()});
  if (!secret) std::fprintf(stderr, "ringcast: --jwt-secret must be at least 32 bytes\n");
  return secret;
}

// The signing secret on SQLite: the flag, else the data dir's file, else a new one written
// there (0600, atomically) so tokens survive restarts.
std::optional<auth::JwtSecret> LoadOrCreateSecret(const Config& config) {
  if (!config.jwt_secret.empty()) return SecretFromFlag(config);
  std::filesystem::path path = std::filesystem::path(config.data_dir) / kSecretFile;
  bool present = false;
  if (auto secret = ReadSecretFile(path, &present); present) return secret;
  auto secret = GenerateSecret();
  if (!secret) return std::nullopt;
  std::filesystem::path temp = path;
  temp += ".tmp";
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  std::string text = secret->ToHex() + "\n";
  bool ok =
      fd >= 0 && write(fd, text.data(), text.size()) == ssize_t(text.size()) && fsync(fd) == 0;
  if (fd >= 0) close(fd);
  if (!ok || rename(temp.c_str(), path.c_str()) != 0) {
    std::fprintf(stderr, "ringcast: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
    return std::nullopt;
  }
  RC_LOG(kInfo, "generated a token signing secret in %s", path.c_str());
  return secret;
}

// The PostgreSQL store when --database-url names one, else SQLite in the data dir, and the
// token signing secret; nullptr (with a one-line reason on stderr) when either fails. On
// PostgreSQL the secret is the database's unless --jwt-secret is given, so that every node of
// a cluster accepts every node's tokens: the first node to start keeps its data dir's secret
// there (a single node moving to PostgreSQL keeps its users logged in), or a new one.
// The VAPID key (Web Push) is shared the same way: notify/push/vapid_key.h; its PEM in
// *vapid_pem.
std::unique_ptr<storage::ChatStore> OpenStore(const Config& config,
                                              std::optional<auth::JwtSecret>* secret,
                                              std::string* vapid_pem) {
  if (!config.database_url.empty()) {
    std::optional<auth::JwtSecret> candidate;
    if (config.jwt_secret.empty()) {
      bool present = false;
      candidate = ReadSecretFile(std::filesystem::path(config.data_dir) / kSecretFile, &present);
      if (!present) candidate = GenerateSecret();
      if (!candidate) return nullptr;
    }
    std::string vapid_error;
    std::optional<std::string> vapid_candidate =
        notify::VapidKeyCandidate(config.data_dir, &vapid_error);
    if (!vapid_candidate) {
      std::fprintf(stderr, "ringcast: %s\n", vapid_error.c_str());
      return nullptr;
    }
    storage::PgStoreOptions options{.conninfo = config.database_url,
                                    .writers = config.db_writers,
                                    .readers = config.db_readers,
                                    .batch_max = config.batch_max,
                                    .batch_delay_us = config.batch_delay_us,
                                    .timeout = std::chrono::milliseconds(config.db_timeout_ms),
                                    .max_queued = config.max_store_queue,
                                    .synchronous_commit = config.pg_synchronous_commit,
                                    .secret_candidate = candidate ? candidate->ToHex() : "",
                                    .vapid_key_candidate = *vapid_candidate,
                                    .log = [](bool warning, const std::string& line) {
                                      if (warning) {
                                        RC_LOG(kWarn, "%s", line.c_str());
                                      } else {
                                        RC_LOG(kInfo, "%s", line.c_str());
                                      }
                                    }};
    auto store = storage::PgChatStore::Open(options);
    if (!store.ok()) {
      std::fprintf(stderr, "ringcast: cannot open the chat store: %s\n",
                   store.status().message().c_str());
      return nullptr;
    }
    *secret =
        candidate ? auth::JwtSecret::FromHex((*store)->shared_secret()) : SecretFromFlag(config);
    *vapid_pem = (*store)->shared_vapid_key();
    if (!*secret) {
      std::fprintf(stderr,
                   "ringcast: the database's server_settings.jwt_secret is not a hex "
                   "secret of at least 32 bytes\n");
      return nullptr;
    }
    RC_LOG(kInfo,
           "chat store: PostgreSQL at %s (%u writers, %u readers, synchronous_commit=%s, batch up "
           "to %u, delay %u us)",
           storage::RedactConninfo(config.database_url).c_str(), config.db_writers,
           config.db_readers, config.pg_synchronous_commit.c_str(), config.batch_max,
           config.batch_delay_us);
    return std::move(*store);
  }
  storage::ExecutorOptions options;
  options.db.path = (std::filesystem::path(config.data_dir) / kDatabaseFile).string();
  options.db.cache_kib = config.store_cache_mib * 1024;
  options.db.page_size = config.sqlite_page_size;
  options.db.synchronous =
      config.synchronous == "normal" ? storage::Synchronous::kNormal : storage::Synchronous::kFull;
  options.batch_max = config.batch_max;
  options.batch_delay_us = config.batch_delay_us;
  options.commit_interval_us = config.commit_interval_us;
  options.max_queued_writes = options.max_queued_reads = config.max_store_queue;
  options.readers = 2;
  options.wal_bound_bytes = uint64_t{config.wal_bound_mib} << 20;
  options.wal_hard_cap_bytes = uint64_t{config.wal_hard_cap_mib} << 20;
  options.wal_idle_checkpoint_ms = config.wal_idle_checkpoint_ms;
  options.wal_restart_wait_ms = config.wal_restart_wait_ms;
  options.log = [](bool warning, const std::string& line) {
    if (warning) {
      RC_LOG(kWarn, "%s", line.c_str());
    } else {
      RC_LOG(kInfo, "%s", line.c_str());
    }
  };
  *secret = LoadOrCreateSecret(config);
  if (!*secret) return nullptr;
  std::string vapid_error;
  std::optional<notify::EcKey> vapid_key =
      notify::LoadOrCreateVapidKey(config.data_dir, &vapid_error);
  if (!vapid_key) {
    std::fprintf(stderr, "ringcast: %s\n", vapid_error.c_str());
    return nullptr;
  }
  *vapid_pem = vapid_key->PrivatePem();
  auto store = storage::SqliteChatStore::Open(options, config.sqlite_recent_cids);
  if (!store.ok()) {
    std::fprintf(stderr, "ringcast: cannot open the chat store %s: %s\n", options.db.path.c_str(),
                 store.status().ToString().c_str());
    return nullptr;
  }
  RC_LOG(kInfo,
         "chat store %s open (synchronous=%s, batch up to %u, delay %u us, commits paced %u us)",
         options.db.path.c_str(), config.synchronous.c_str(), config.batch_max,
         config.batch_delay_us, config.commit_interval_us);
  return std::move(*store);
}

}  // namespace

int64_t NowMs() { return SystemClock().WallMs(); }

std::unique_ptr<ChatService> ChatService::Start(const Config& config) {
  std::error_code error;
  std::filesystem::create_directories(config.data_dir, error);
  if (error || access(config.data_dir.c_str(), W_OK | X_OK) != 0) {
    std::fprintf(stderr, "ringcast: --data-dir %s is not a writable directory: %s\n",
                 config.data_dir.c_str(), error ? error.message().c_str() : std::strerror(errno));
    return nullptr;
  }
  // Uploaded files (chat/upload_api.h); what a crash left half-written is removed here.
  std::vector<std::string> put_back;  // Files a sweep had moved aside (chat/upload_sweeper.h).
  if (std::string problem =
          PrepareFileStore(UploadFilesDir(config), UploadTempDir(config), &put_back);
      !problem.empty()) {
    std::fprintf(stderr, "ringcast: cannot prepare the file store: %s\n", problem.c_str());
    return nullptr;
  }
  std::optional<auth::JwtSecret> secret;
  std::string vapid_pem;
  std::unique_ptr<storage::ChatStore> store = OpenStore(config, &secret, &vapid_pem);
  if (!store) return nullptr;
  std::unique_ptr<ChatService> service(new ChatService(config, *secret));
  service->store_ = std::move(store);
  service->vapid_key_ = notify::EcKey::FromPrivatePem(vapid_pem);
  if (!service->vapid_key_) {
    std::fprintf(stderr,
                 "ringcast: the database's server_settings.vapid_key is not a P-256 "
                 "private key (PEM)\n");
    return nullptr;
  }

  // Before any shard runs, so the revocation sets start complete. The only blocking wait on
  // the store, and it is on the main thread.
  auto result = storage::AwaitReply<std::vector<storage::RevokedToken>>(
      [&](auto reply) { service->store_->LoadRevoked(NowMs(), std::move(reply)); });
  if (!result.ok()) {
    std::fprintf(stderr, "ringcast: cannot read revoked tokens: %s\n",
                 result.status().ToString().c_str());
    return nullptr;
  }
  service->initially_revoked_ = std::move(*result);
  auto instance = storage::AwaitReply<std::string>(
      [&](auto reply) { service->store_->InstanceId(std::move(reply)); });
  if (!instance.ok() || instance->empty()) {
    std::fprintf(stderr, "ringcast: cannot read the store's instance id: %s\n",
                 instance.ok() ? "none" : instance.status().ToString().c_str());
    return nullptr;
  }
  service->instance_id_ = std::move(*instance);
  if (!service->SetUpNotifications()) return nullptr;
  if (!config.smtp_url.empty()) {
    notify::DigestOptions options{.smtp = {.url = config.smtp_url, .from = config.email_from},
                                  .after = std::chrono::seconds(config.email_digest_after_s),
                                  .batch = config.email_digest_batch};
    service->digest_mailer_ = std::make_unique<notify::DigestMailer>(
        *service->store_, std::move(options), service->jobs());
  }
  if (config.upload_orphan_ttl_s > 0) {
    service->upload_sweeper_ = std::make_unique<UploadSweeper>(
        *service->store_,
        UploadSweepOptions{.ttl = std::chrono::seconds(config.upload_orphan_ttl_s),
                           .files_dir = UploadFilesDir(config),
                           .temp_dir = UploadTempDir(config),
                           .recheck = std::move(put_back)});
    service->upload_sweeper_->Start();
  }
  return service;
}

ChatService::ChatService(const Config& config, auth::JwtSecret secret)
    : config_(config), secret_(secret) {}

ChatService::~ChatService() { Stop(); }

void ChatService::Attach(ShardSet& shards) {
  shards_ = &shards;
  apps_.assign(shards.size(), nullptr);
  shards.AddMetricsSource([store = store_.get()](MetricSet& out) { store->CollectMetrics(out); });
  if (cluster::ClusterNode* node = shards.cluster()) {
    cluster_ = std::make_unique<ClusterLink>(*this, *node);
    cluster_presence_ = std::make_unique<ClusterPresence>(*this, *node);
  }
  AttachNotifications(shards);
}

std::unique_ptr<Application> ChatService::MakeShardApp(Shard& shard) {
  auto app = std::make_unique<ChatShard>(shard, *this);
  apps_[shard.id()] = app.get();
  return app;
}

void ChatService::Stop(std::chrono::steady_clock::time_point deadline) {
  // Replies still to come (the store drains what it accepted) find no shard to run on.
  if (stopped_.exchange(true, std::memory_order_acq_rel) || !store_) return;
  if (digest_mailer_) digest_mailer_->Stop();    // It uses the store and the publisher.
  if (upload_sweeper_) upload_sweeper_->Stop();  // It uses the store.
  StopNotifications();
  // Nobody is waiting for these replies any more, so committing what is queued is a courtesy
  // (a client resends unacked messages; cids make that safe) bounded by what is left of the
  // shutdown's time: an overloaded store's queue could otherwise hold the exit for as long as
  // it takes to commit.
  auto started = std::chrono::steady_clock::now();
  store_->Stop(std::max(kMinStoreDrain,
                        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - started)));
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  RC_LOG(kInfo, "chat store stopped in %lld ms", static_cast<long long>(took.count()));
}

bool ChatService::TryPost(uint32_t target, ShardTask task, bool must_arrive) {
  if (stopped_.load(std::memory_order_acquire)) return false;
  auto owned = std::make_unique<ShardTask>(std::move(task));
  Mail mail{&ChatService::RunTask, owned.get(), reinterpret_cast<uint64_t>(this)};
  bool queued = false;
  if (Shard* current = Shard::Current()) {
    queued = current->Post(target, mail);  // Refused: that shard is far behind (logged there).
  } else {
    // From a worker, storage or bus thread: never waits (ExternalMail::Post). Refused once
    // the shard has stopped, when nobody is left to tell, or (may-fail) past the overflow.
    queued = shards_->external_mail().Post(target, mail,
                                           must_arrive ? ExternalMail::Delivery::kMustArrive
                                                       : ExternalMail::Delivery::kMayFail) ==
             PushResult::kQueued;
  }
  if (queued) (void)owned.release();  // The mail owns it now; RunTask frees it.
  return queued;
}

void ChatService::RunTask(Shard& shard, const Mail& mail) {
  std::unique_ptr<ShardTask> task(static_cast<ShardTask*>(mail.ptr));
  auto* service = reinterpret_cast<ChatService*>(mail.a);
  if (service->stopped_.load(std::memory_order_acquire)) return;
  (*task)(*service->apps_[shard.id()]);
}

}  // namespace ringcast::chat
