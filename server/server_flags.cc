#include "server/server_flags.h"

#include <cstdio>

#include "chat/chat_options.h"
#include "core/cluster/cluster_options.h"
#include "core/log_options.h"
#include "core/metrics/metrics_options.h"
#include "core/net/net_options.h"
#include "core/routes/route_options.h"
#include "core/runtime/runtime_options.h"
#include "files/files_options.h"
#include "notify/notify_options.h"
#include "storage/store_factory.h"
#include "storage/store_options.h"

namespace ringcast::server {

void RegisterServerFlags(FlagRegistry& flags, chat::Config* config) {
  RegisterNetFlags(flags, config);
  RegisterRuntimeFlags(flags, config);
  RegisterRouteFlags(flags, config);
  RegisterLogFlags(flags, config);
  RegisterMetricsFlags(flags, config);
  chat::RegisterChatFlags(flags, config);
  storage::RegisterStoreFlags(flags, config);
  notify::RegisterNotifyFlags(flags, config);
  cluster::RegisterClusterFlags(flags, config);
  files::RegisterFilesFlags(flags, config);
  flags.AddCheck([config] {
    // A file larger than one part reaches its content address by one CopyObject, which S3
    // bounds at 5 GiB (files/README.md, "Uploads").
    if (!config->files_url.empty() && config->max_upload_bytes > (uint64_t{5} << 30)) {
      std::fprintf(stderr,
                   "ringcast: --files-url takes files of at most 5 GiB (S3's bound on one copy): "
                   "--max-upload-bytes must not be above 5368709120\n");
      return false;
    }
    return true;
  });
  flags.AddCheck([config] {
    if (!config->redis_url.empty() && !storage::IsSharedStore(*config)) {
      std::fprintf(stderr,
                   "ringcast: --redis (cluster mode) needs --database-url: every node of a "
                   "cluster shares one PostgreSQL store, and the SQLite store in --data-dir "
                   "belongs to one node\n");
      return false;
    }
    return true;
  });
}

}  // namespace ringcast::server
