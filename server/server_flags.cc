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
