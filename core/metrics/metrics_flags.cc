#include "core/flags.h"
#include "core/metrics/metrics_options.h"
#include "core/net/net_options.h"

namespace ringcast {

void RegisterMetricsFlags(FlagRegistry& flags, MetricsOptions* options) {
  flags.Add({
      Bounded("metrics-port", &options->metrics_port, 0, 65535,
              "Serve GET /metrics (Prometheus) on this port of --metrics-address, on a thread of "
              "its own; 0: no such listener"),
      {"metrics-address", &options->metrics_address,
       "Address of the --metrics-port listener (the default keeps it off the network)"},
      {"metrics-on-main-port", &options->metrics_on_main_port,
       "Also serve GET /metrics on the main (public) port: only where nothing "
       "untrusted reaches it, or behind a proxy that refuses /metrics"},
  });
  flags.AddCheck([options] {
    return options->metrics_port == 0 ||
           CheckListenHost("--metrics-address", options->metrics_address);
  });
}

}  // namespace ringcast
