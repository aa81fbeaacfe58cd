// The engine's configuration: the options of every core module, together, as the shards,
// the cluster node and the metrics server read them. Each part is its module's own struct,
// declared and registered (its flags) there; the composition root (server/main.cc) parses them
// all with a FlagRegistry (core/flags.h). The chat service's aggregate, with the store's,
// notify's and chat's options on top of this one, is chat::Config (chat/config.h).
#pragma once

#include "core/cluster/cluster_options.h"
#include "core/log_options.h"
#include "core/metrics/metrics_options.h"
#include "core/net/net_options.h"
#include "core/routes/route_options.h"
#include "core/runtime/runtime_options.h"

namespace ringcast {

struct Config : NetOptions,
                RuntimeOptions,
                RouteOptions,
                LoggingOptions,
                MetricsOptions,
                cluster::ClusterOptions {};

}  // namespace ringcast
