// cpu-distance: how far apart two CPUs are, as the round trip of one cache line between a
// thread pinned to each. On a virtual machine the host may move our vCPUs between cores that
// share a cache (about 100 ns on the EPYC VMs we bench on) and cores that do not (about 430
// ns), and every loopback benchmark that puts the server on one CPU and the load on the other
// pays that distance on each packet: bench/run watches it during each run (bench/README.md,
// "Placement").
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace ringcast::bench {

struct CpuDistanceOptions {
  uint32_t cpu_a = 0;
  uint32_t cpu_b = 1;
  uint32_t round_trips = 2000;  // Per sample, in batches of 100.
  uint32_t every_ms = 0;        // 0: one sample and exit.
  double duration_s = 0;        // With every_ms: stop after this long (0: at SIGTERM/SIGINT).
  std::string json_path;
  bool quiet = false;
};

// The median, over batches of 100, of one cache line's round trip between a thread on `cpu_a`
// and one on `cpu_b`, in nanoseconds; -errno when a thread cannot be pinned there.
double CacheLineRoundTripNs(uint32_t cpu_a, uint32_t cpu_b, uint32_t round_trips);

// The `cpu-distance` subcommand; its callback runs the probe and stores the exit status.
CLI::App* AddCpuDistanceCommand(CLI::App* app, CpuDistanceOptions* options, int* exit_status);

}  // namespace ringcast::bench
