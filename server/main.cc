// ringcast: shard-per-core io_uring WebSocket server. See README.md and docs/architecture.md.
//
// The composition root: the one place that knows every module. It parses every module's flags
// (server_flags.h), starts logging, prepares the file store, opens the store with its secrets
// (store_setup.h), the chat service, its background work (notifications, email digests, the
// upload sweeper: background.h), the cluster node and the metrics listener, and wires them into
// the shards.
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chat/api/upload_api.h"
#include "chat/auth/jwt.h"
#include "chat/config.h"
#include "chat/service.h"
#include "core/cluster/cluster_node.h"
#include "core/flags.h"
#include "core/log.h"
#include "core/metrics/metric_set.h"
#include "core/metrics/metrics_server.h"
#include "core/net/file_upload.h"
#include "core/net/tls_context.h"
#include "core/routes/static_files.h"
#include "core/runtime/shard_set.h"
#include "core/version.h"
#include "files/files_migrate.h"
#include "files/files_setup.h"
#include "server/background.h"
#include "server/server_flags.h"
#include "server/store_setup.h"

namespace {

// --migrate-files (files/files_migrate.h): the folder into the bucket, then the exit status.
int MigrateFilesAndExit(const ringcast::chat::Config& config) {
  if (config.files_url.empty()) {
    RC_LOG(kError, "--migrate-files needs --files-url: the bucket to copy --files-dir into");
    return 2;
  }
  std::string error;
  std::vector<std::string> restored;
  auto objects = ringcast::files::OpenObjectStore(config, ringcast::chat::UploadNodeTag(config),
                                                  &restored, &error);
  if (!objects) {
    RC_LOG(kError, "files: %s", error.c_str());
    return 1;
  }
  const std::string files_dir = ringcast::chat::UploadFilesDir(config);
  const ringcast::files::MigrationReport report =
      ringcast::files::MigrateFiles(files_dir, *objects, config.s3_workers);
  const std::string summary =
      files_dir + " into " + config.files_url + ": " + std::to_string(report.files) + " files, " +
      std::to_string(report.copied) + " copied (" + std::to_string(report.bytes_copied) +
      " bytes), " + std::to_string(report.skipped) + " there already, " +
      std::to_string(report.failed) + " failed";
  if (report.failed == 0) {
    RC_LOG(kInfo, "migrate: %s", summary.c_str());
  } else {
    RC_LOG(kError, "migrate: %s (run it again once the reasons above are fixed)", summary.c_str());
  }
  return report.failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // First, before the store starts its threads: they inherit the mask, so only the main thread
  // (ShardSet::Run) ever takes SIGINT/SIGTERM/SIGHUP.
  ringcast::ShardSet::BlockHandledSignals();
  ringcast::chat::Config config;
  {
    ringcast::FlagRegistry flags("ringcast: io_uring WebSocket fan-out and chat server",
                                 [] { ringcast::PrintVersion(stdout); });
    ringcast::server::RegisterServerFlags(flags, &config);
    if (int status = flags.Parse(argc, argv); status >= 0) return status;
  }
  // A bad value, so exit 2 before anything starts, as for every other flag; checked after
  // Parse, as it always was, so that --print-config still prints a configuration holding one.
  if (!config.jwt_secret.empty() && config.jwt_secret.size() < ringcast::auth::kMinJwtSecretBytes) {
    std::fprintf(stderr, "ringcast: --jwt-secret must be at least %zu bytes, got %zu\n",
                 ringcast::auth::kMinJwtSecretBytes, config.jwt_secret.size());
    return 2;
  }
  using ringcast::LogLevel;
  ringcast::SetLogLevel(config.log_level == "debug"   ? LogLevel::kDebug
                        : config.log_level == "warn"  ? LogLevel::kWarn
                        : config.log_level == "error" ? LogLevel::kError
                                                      : LogLevel::kInfo);
  ringcast::LogOptions log_options;
  log_options.format =
      config.log_format == "json" ? ringcast::LogFormat::kJson : ringcast::LogFormat::kText;
  log_options.buffer_lines = config.log_buffer_lines;
  log_options.access_log = config.access_log;
  std::string log_error;
  if (!ringcast::StartLogging(log_options, &log_error)) {
    std::fprintf(stderr, "ringcast: %s\n", log_error.c_str());
    return 2;
  }
  // Every line still buffered is written on each way out, a failed start included (and at
  // exit(): StartLogging registers it).
  struct FlushLogs {
    ~FlushLogs() { ringcast::StopLogging(); }
  } flush_logs;
  if (config.web_root_not_found) {
    RC_LOG(kWarn,
           "static files: no web app: no share/ringcast/web next to this binary (an installation "
           "without its files?) and no --web-root");
  } else if (config.web_root.empty()) {
    RC_LOG(kInfo, "static files: off (--web-root is empty)");
  }
  if (config.sdk_root_not_found) {
    RC_LOG(kWarn,
           "static files: no SDK at /sdk/: no share/ringcast/sdk next to this binary and "
           "no --sdk-root");
  }
  // Both mounts need openat2: what keeps their reads inside their roots.
  const std::pair<const std::string*, const char*> mounts[] = {{&config.web_root, "/"},
                                                               {&config.sdk_root, "/sdk/"}};
  for (const auto& [root, mount] : mounts) {
    if (root->empty()) continue;
    std::string error;
    if (!ringcast::CheckWebRoot(*root, &error)) {
      RC_LOG(kError, "static files: %s", error.c_str());
      return 1;
    }
    RC_LOG(kInfo, "static files: %s at %s", root->c_str(), mount);
  }
  // Read before anything starts, so a bad certificate is a clear start-up error.
  std::unique_ptr<ringcast::TlsContext> tls;
  if (!config.tls_cert.empty()) {
    std::string error;
    tls = ringcast::TlsContext::Load(config.tls_cert, config.tls_key, &error);
    if (!tls) {
      RC_LOG(kError, "TLS: %s", error.c_str());
      return 1;
    }
    RC_LOG(kInfo, "TLS on port %u: %s", config.tls_port, tls->Describe().c_str());
  }
  if (config.migrate_files) return MigrateFilesAndExit(config);
  std::optional<ringcast::server::OpenedStore> opened =
      ringcast::server::OpenStoreWithSecrets(config);
  if (!opened) return 1;
  // Uploaded files (chat/api/upload_api.h); what a crash left half-written is removed here (the
  // store made --data-dir).
  std::vector<std::string> swept_files;  // Files a sweep had moved aside (chat/upload_sweeper.h).
  if (std::string problem =
          ringcast::PrepareFileStore(ringcast::chat::UploadFilesDir(config),
                                     ringcast::chat::UploadTempDir(config), &swept_files);
      !problem.empty()) {
    std::fprintf(stderr, "ringcast: cannot prepare the file store: %s\n", problem.c_str());
    return 1;
  }
  // --files-url: the bucket (files/files_setup.h); the temporary files above stay on this disk.
  std::shared_ptr<ringcast::files::ObjectStore> objects;
  if (!config.files_url.empty()) {
    config.object_workers = config.s3_workers;
    std::string error;
    // Its temporaries carry this node's name: in a cluster the node id, unique by construction
    // (nodes of a compose file may all have the same --data-dir path, which names them alone).
    std::string node = ringcast::chat::UploadNodeTag(config);
    if (!config.redis_url.empty()) {
      node = ringcast::cluster::ResolveNodeId(config, config.data_dir);
      if (node.empty()) return 1;
    }
    objects = ringcast::files::OpenObjectStore(config, node, &swept_files, &error);
    if (!objects) {
      RC_LOG(kError, "files: %s", error.c_str());
      return 1;
    }
  }
  std::unique_ptr<ringcast::chat::ChatService> chat = ringcast::chat::ChatService::Start(
      config, std::move(opened->store), opened->secret, opened->vapid_pem, std::move(objects));
  if (!chat) return 1;
  // Declared after the chat service, so destroyed (and stopped) before the store it reads.
  std::unique_ptr<ringcast::server::Background> background =
      ringcast::server::Background::Create(config, *chat, std::move(swept_files));
  if (!background) return 1;
  // Cluster mode (docs/cluster.md): the bus starts once the shards can take mail.
  std::unique_ptr<ringcast::cluster::ClusterNode> cluster;
  if (!config.redis_url.empty()) {
    cluster = ringcast::cluster::ClusterNode::Create(config, config.data_dir);
    if (!cluster) return 1;
  }
  std::unique_ptr<ringcast::MetricsServer> metrics;
  if (config.metrics_port != 0) {
    metrics = ringcast::MetricsServer::Listen(config);
    if (!metrics) return 1;
  }
  ringcast::ShardSet shards(config,
                            [&chat](ringcast::Shard& shard) { return chat->MakeShardApp(shard); });
  shards.SetCluster(cluster.get());
  shards.SetTls(tls.get());
  chat->Attach(shards);
  background->Attach(shards);
  if (cluster) {
    shards.AddMetricsSource(
        [node = cluster.get()](ringcast::MetricSet& out) { node->CollectMetrics(out); });
  }
  shards.SetStartedHook([&] {
    if (cluster) cluster->Start(shards);
    if (metrics) metrics->Start(shards);
    background->Start();
  });
  shards.SetStoppedHook([&](std::chrono::steady_clock::time_point deadline) {
    if (metrics) metrics->Stop();
    background->Stop();  // Its threads use the store, which the chat service stops.
    chat->Stop(deadline);
    // After the store: the publications of its last commits are written first.
    if (cluster) cluster->Stop();
  });
  return shards.Run();
}
