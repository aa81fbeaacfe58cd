// Runner: the main thread of a ringcast-bench run. Starts the workers, paces the phases
// (connect, each step's warmup/measurement/drain, close), prints a progress line per second,
// samples the server process, and writes the final table and the --json report.
#pragma once

#include <netinet/in.h>

#include <string>

#include "tools/bench/scenario.h"

namespace ringcast::bench {

// Returns the process exit status: 0 when every count added up, 1 when the run failed (lost
// messages, a dropped connection), 2 for a configuration error found before starting.
int RunBenchmark(Scenario& scenario, CommonOptions options, const std::string& command_line);

// The IPv4 address and port of `url` (a literal address or a name); false with *error.
bool ResolveTarget(const WsUrl& url, sockaddr_in* out, std::string* error);

}  // namespace ringcast::bench
