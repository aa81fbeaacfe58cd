// Where GET /metrics is served (docs/metrics.md), and the flags that say so (metrics_flags.cc).
#pragma once

#include <cstdint>
#include <string>

namespace ringcast {

class FlagRegistry;

// On a listener of its own when metrics_port is set (on metrics_address, loopback by default),
// on the public port only when metrics_on_main_port says so; by default nowhere, so that a
// node's figures are never public by accident.
struct MetricsOptions {
  uint16_t metrics_port = 0;
  std::string metrics_address = "127.0.0.1";
  bool metrics_on_main_port = false;
};

void RegisterMetricsFlags(FlagRegistry& flags, MetricsOptions* options);

}  // namespace ringcast
