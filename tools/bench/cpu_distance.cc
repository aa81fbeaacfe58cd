#include "tools/bench/cpu_distance.h"

#include <pthread.h>
#include <sched.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "tools/bench/json.h"

namespace ringcast::bench {
namespace {

constexpr uint32_t kBatch = 100;

int PinSelf(uint32_t cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return -pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

std::atomic<bool> g_stop{false};
void OnStopSignal(int) { g_stop.store(true, std::memory_order_relaxed); }

int Run(const CpuDistanceOptions& options) {
  Json samples = Json::Array();
  double low = 0;
  double high = 0;
  const auto start = std::chrono::steady_clock::now();
  if (options.every_ms > 0) {
    std::signal(SIGTERM, OnStopSignal);
    std::signal(SIGINT, OnStopSignal);
  }
  if (options.cpu_a == options.cpu_b) {
    // Two spinning threads on one CPU would pass the line once per time slice: not a distance.
    fprintf(stderr, "ringcast-bench cpu-distance: --cpu-a and --cpu-b must differ\n");
    return 2;
  }
  for (uint32_t n = 0;; ++n) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double ns = CacheLineRoundTripNs(options.cpu_a, options.cpu_b, options.round_trips);
    if (ns < 0) {
      fprintf(stderr, "ringcast-bench cpu-distance: cannot pin a thread to CPU %u or %u: %s\n",
              options.cpu_a, options.cpu_b, strerror(static_cast<int>(-ns)));
      return 2;
    }
    low = n == 0 ? ns : std::min(low, ns);
    high = std::max(high, ns);
    samples.Push(Json::Object().Set("t_s", seconds).Set("round_trip_ns", ns));
    if (!options.quiet) {
      printf("%8.3f s  CPU %u <-> CPU %u: %.0f ns\n", seconds, options.cpu_a, options.cpu_b, ns);
      fflush(stdout);
    }
    if (options.every_ms == 0 || g_stop.load(std::memory_order_relaxed)) break;
    if (options.duration_s > 0 && seconds >= options.duration_s) break;
    // Sleep in short steps so that a stop signal ends the watch promptly.
    const auto next =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options.every_ms);
    while (!g_stop.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::min<uint32_t>(options.every_ms, 20)));
    }
    if (g_stop.load(std::memory_order_relaxed)) break;
  }
  if (!options.json_path.empty()) {
    Json report = Json::Object()
                      .Set("tool", "ringcast-bench")
                      .Set("scenario", "cpu-distance")
                      .Set("cpus", Json::Array().Push(options.cpu_a).Push(options.cpu_b))
                      .Set("round_trips_per_sample", options.round_trips)
                      .Set("min_ns", low)
                      .Set("max_ns", high)
                      .Set("samples", std::move(samples));
    std::ofstream out(options.json_path);
    out << report.Dump() << "\n";
    if (!out) {
      fprintf(stderr, "ringcast-bench cpu-distance: cannot write %s\n", options.json_path.c_str());
      return 2;
    }
  }
  return 0;
}

}  // namespace

double CacheLineRoundTripNs(uint32_t cpu_a, uint32_t cpu_b, uint32_t round_trips) {
  // One line both threads write: the thrower (on A) stores odd values, the returner (on B) the
  // next even one.
  alignas(64) std::atomic<uint64_t> ball{0};
  std::atomic<int> error{0};  // A thread that cannot be pinned stops the other.
  const uint64_t total = uint64_t{std::max<uint32_t>(round_trips / kBatch, 2)} * kBatch;
  std::vector<double> batches;
  auto await = [&ball, &error](uint64_t value) {
    while (ball.load(std::memory_order_acquire) != value) {
      if (error.load(std::memory_order_relaxed) != 0) return false;
    }
    return true;
  };
  std::thread thrower([&, cpu_a] {
    if (int rc = PinSelf(cpu_a); rc < 0) return error.store(rc);
    for (uint64_t i = 0; i < total; i += kBatch) {
      const auto begin = std::chrono::steady_clock::now();
      for (uint64_t j = i; j < i + kBatch; ++j) {
        ball.store(2 * j + 1, std::memory_order_release);
        if (!await(2 * j + 2)) return;
      }
      const std::chrono::duration<double, std::nano> spent =
          std::chrono::steady_clock::now() - begin;
      batches.push_back(spent.count() / kBatch);
    }
  });
  std::thread returner([&, cpu_b] {
    if (int rc = PinSelf(cpu_b); rc < 0) return error.store(rc);
    for (uint64_t i = 0; i < total; ++i) {
      if (!await(2 * i + 1)) return;
      ball.store(2 * i + 2, std::memory_order_release);
    }
  });
  thrower.join();
  returner.join();
  if (error.load() != 0) return error.load();
  // The first batch pays for waking the returner, and a batch during which either thread was
  // preempted is long: the median ignores both.
  std::nth_element(batches.begin(), batches.begin() + batches.size() / 2, batches.end());
  return batches[batches.size() / 2];
}

CLI::App* AddCpuDistanceCommand(CLI::App* app, CpuDistanceOptions* options, int* exit_status) {
  CLI::App* command = app->add_subcommand(
      "cpu-distance",
      "How far apart two CPUs are: one cache line's round trip between a thread on each (ns); "
      "bench/run watches it to tell a run on distant vCPUs");
  command->add_option("--cpu-a", options->cpu_a, "First CPU")->capture_default_str();
  command->add_option("--cpu-b", options->cpu_b, "Second CPU")->capture_default_str();
  command
      ->add_option("--round-trips", options->round_trips,
                   "Round trips per sample (median over batches of 100)")
      ->check(CLI::Range(200u, 10000000u))
      ->capture_default_str();
  command
      ->add_option("--every-ms", options->every_ms,
                   "Sample every this many ms until SIGTERM/SIGINT or --duration (0: once)")
      ->capture_default_str();
  command->add_option("-d,--duration", options->duration_s, "With --every-ms: stop after this")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--json", options->json_path, "Write every sample here");
  command->add_flag("-q,--quiet", options->quiet, "No line per sample");
  command->callback([options, exit_status] { *exit_status = Run(*options); });
  return command;
}

}  // namespace ringcast::bench
