#include "tools/bench/runner.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "tools/bench/system_info.h"
#include "tools/bench/worker.h"

#ifndef RINGCAST_BENCH_VERSION
#define RINGCAST_BENCH_VERSION "unknown"
#endif

namespace ringcast::bench {
namespace {

constexpr int64_t kSecondNs = 1'000'000'000;
constexpr char kDefaultLoopbackSources[] = "127.0.0.1-127.0.0.16";

void SleepNs(int64_t ns) {
  if (ns > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
}

class Progress {
 public:
  Progress(int64_t start_ns, bool quiet) : start_ns_(start_ns), quiet_(quiet) {}
  void Print(const std::string& line) const {
    if (quiet_) return;
    const double t = static_cast<double>(NowNs() - start_ns_) / 1e9;
    fprintf(stderr, "[%6.1fs] %s\n", t, line.c_str());
  }

 private:
  int64_t start_ns_;
  bool quiet_;
};

struct ServerFigures {
  ProcessSample before_connect;
  ProcessSample after_connect;
  ProcessSample end;
  uint64_t measured_ticks = 0;
  double measured_seconds = 0;
};

Json SampleToJson(const ProcessSample& sample) {
  Json out = Json::Object();
  out.Set("ok", sample.ok);
  out.Set("rss_bytes", sample.rss_bytes);
  out.Set("cpu_seconds", TicksToSeconds(sample.cpu_ticks));
  return out;
}

// "ws://a:1/x" for one server; "3 servers: ws://a:1/x, ws://a:2/x, ws://a:3/x" for several.
std::string TargetsText(const std::vector<WsUrl>& urls) {
  if (urls.size() == 1) return urls[0].ToString();
  std::string out = std::to_string(urls.size()) + " servers: ";
  for (size_t i = 0; i < urls.size(); ++i) out += (i > 0 ? ", " : "") + urls[i].ToString();
  return out;
}

}  // namespace

bool ResolveTarget(const WsUrl& url, sockaddr_in* out, std::string* error) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(url.port);
  if (inet_pton(AF_INET, url.host.c_str(), &addr.sin_addr) != 1) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* result = nullptr;
    const int rc = getaddrinfo(url.host.c_str(), nullptr, &hints, &result);
    if (rc != 0 || result == nullptr) {
      *error = "cannot resolve '" + url.host + "': " + gai_strerror(rc);
      return false;
    }
    addr.sin_addr = reinterpret_cast<sockaddr_in*>(result->ai_addr)->sin_addr;
    freeaddrinfo(result);
  }
  *out = addr;
  return true;
}

int RunBenchmark(Scenario& scenario, CommonOptions options, const std::string& command_line) {
  const std::string started_at = UtcTimestamp();
  const uint64_t fd_limit = RaiseFdLimit();
  std::string error;
  std::vector<sockaddr_in> servers(options.urls.size());
  bool all_loopback = true;
  for (size_t i = 0; i < options.urls.size(); ++i) {
    if (!ResolveTarget(options.urls[i], &servers[i], &error)) {
      fprintf(stderr, "ringcast-bench: %s\n", error.c_str());
      return 2;
    }
    all_loopback = all_loopback && (ntohl(servers[i].sin_addr.s_addr) >> 24) == 127;
  }
  const auto server_count = static_cast<uint32_t>(servers.size());
  if (options.sources_text.empty() && all_loopback) {
    // Loopback: spread over several source addresses so one address's ephemeral ports are
    // not the limit (each source address has its own 4-tuple space).
    ParseSourceList(kDefaultLoopbackSources, &options.sources, &error);
    options.sources_text = kDefaultLoopbackSources;
  }
  RunShared run;
  run.threads = options.threads;
  run.tolerate_faults = options.tolerate_faults;
  if (!scenario.Setup(options, &run, &error)) {
    // A setup that failed against the server (chat's HTTP calls) failed the run; anything else
    // was the configuration.
    fprintf(stderr, "ringcast-bench %s: %s\n", scenario.name(), error.c_str());
    return run.failed() ? 1 : 2;
  }
  const uint32_t connections = scenario.connection_count();
  if (uint64_t{connections} + 64 > fd_limit) {
    fprintf(stderr,
            "ringcast-bench: %u connections need as many file descriptors, but the limit is %lu "
            "(the hard limit; raise it with ulimit -Hn as root, or split the load over several "
            "ringcast-bench processes with disjoint --sources)\n",
            connections, static_cast<unsigned long>(fd_limit));
    return 2;
  }

  ServerFigures server;
  const bool sample_server = options.server_pid > 0;
  if (sample_server) {
    server.before_connect = SampleProcess(options.server_pid);
    if (!server.before_connect.ok) {
      fprintf(stderr, "ringcast-bench: cannot read /proc/%d/status and /proc/%d/stat\n",
              options.server_pid, options.server_pid);
      return 2;
    }
  }

  const int64_t run_start_ns = NowNs();
  Progress progress(run_start_ns, options.quiet);
  std::vector<std::unique_ptr<Worker>> workers;
  for (uint32_t i = 0; i < options.threads; ++i) {
    workers.push_back(std::make_unique<Worker>(i, options, scenario, run, servers));
    run.workers.push_back(workers.back().get());
  }
  auto stop_workers = [&] {
    run.phase.store(static_cast<int>(Phase::kClosing), std::memory_order_release);
    for (auto& w : workers) w->Wake();
    for (auto& w : workers) w->Join();
  };
  const int64_t connect_start_ns = NowNs();
  for (auto& w : workers) {
    if (w->Start(connect_start_ns) < 0) {
      fprintf(stderr, "ringcast-bench: worker %u: %s\n", w->index(), w->error().c_str());
      stop_workers();
      return 1;
    }
  }
  auto sum = [&run](std::atomic<uint64_t> WorkerCounters::*member) {
    return SumCounter(run, member);
  };

  // Connect phase.
  progress.Print("connecting " + WithCommas(connections) + " to " + TargetsText(options.urls) +
                 " from " + std::to_string(options.sources.size()) + " source address(es), " +
                 (options.connect_rate > 0 ? Fixed(options.connect_rate, 0) + "/s" : "unpaced"));
  int64_t next_progress = connect_start_ns + kSecondNs;
  const auto connect_deadline =
      connect_start_ns + static_cast<int64_t>(options.connect_timeout_s * 1e9);
  uint64_t opened = 0;
  while (true) {
    opened = sum(&WorkerCounters::opened);
    if ((opened >= connections && scenario.Ready()) || run.failed()) break;
    const int64_t now = NowNs();
    if (now > connect_deadline) {
      run.Fail(opened < connections
                   ? "only " + WithCommas(opened) + " of " + WithCommas(connections) +
                         " connections opened within --connect-timeout " +
                         Fixed(options.connect_timeout_s, 0) + " s"
                   : "every connection opened, but the scenario was not ready (" +
                         scenario.ReadyProgress() + ") within --connect-timeout " +
                         Fixed(options.connect_timeout_s, 0) + " s");
      break;
    }
    if (now >= next_progress) {
      next_progress += kSecondNs;
      const double elapsed = static_cast<double>(now - connect_start_ns) / 1e9;
      progress.Print("connecting: " + WithCommas(opened) + " / " + WithCommas(connections) +
                     " open (" + Fixed(static_cast<double>(opened) / elapsed, 0) + "/s), " +
                     WithCommas(sum(&WorkerCounters::failed)) + " failed" +
                     (scenario.ReadyProgress().empty() ? "" : ", " + scenario.ReadyProgress()));
    }
    SleepNs(2'000'000);
  }
  const int64_t connect_end_ns = NowNs();
  const double connect_seconds = static_cast<double>(connect_end_ns - connect_start_ns) / 1e9;
  if (!run.failed()) {
    progress.Print("connected: " + WithCommas(opened) + " in " + Fixed(connect_seconds, 2) +
                   " s (" + Fixed(static_cast<double>(opened) / connect_seconds, 0) + "/s)");
  }
  if (sample_server) server.after_connect = SampleProcess(options.server_pid);

  // Steps.
  std::vector<StepWindow> windows;
  if (!run.failed()) run.phase.store(static_cast<int>(Phase::kRunning), std::memory_order_release);
  for (int s = 0; s < scenario.step_count() && !run.failed(); ++s) {
    StepWindow window;
    window.index = s;
    window.start_ns = NowNs();
    window.measure_ns = window.start_ns + static_cast<int64_t>(scenario.StepWarmupSeconds(s) * 1e9);
    window.end_ns = window.measure_ns + static_cast<int64_t>(scenario.StepSeconds(s) * 1e9);
    run.PublishWindow(window);
    scenario.BeginStep(window);
    for (auto& w : workers) w->Wake();
    windows.push_back(window);
    const std::string label =
        scenario.step_count() > 1
            ? "step " + std::to_string(s + 1) + "/" + std::to_string(scenario.step_count()) + " "
            : "";
    next_progress = window.start_ns + kSecondNs;
    ProcessSample measure_start;
    bool sampled = false;
    scenario.Progress();  // Resets the scenario's per-interval baseline.
    while (!run.failed()) {
      const int64_t now = NowNs();
      if (!sampled && now >= window.measure_ns) {
        sampled = true;
        if (sample_server) measure_start = SampleProcess(options.server_pid);
      }
      if (now >= window.end_ns) break;
      if (now >= next_progress) {
        next_progress += kSecondNs;
        progress.Print(label + (now < window.measure_ns ? "warmup" : scenario.measure_label()) +
                       " " + scenario.Progress());
      }
      SleepNs(std::min<int64_t>({next_progress, window.end_ns,
                                 sampled ? window.end_ns : window.measure_ns, now + 10'000'000}) -
              NowNs());
    }
    if (sample_server && sampled) {
      const ProcessSample measure_end = SampleProcess(options.server_pid);
      server.measured_ticks += measure_end.cpu_ticks - measure_start.cpu_ticks;
      server.measured_seconds +=
          static_cast<double>(measure_end.taken_ns - measure_start.taken_ns) / 1e9;
    }
    const int64_t drain_deadline =
        window.end_ns + static_cast<int64_t>(options.drain_timeout_s * 1e9);
    bool drained = scenario.Drained();
    while (!drained && !run.failed() && NowNs() < drain_deadline) {
      SleepNs(1'000'000);
      drained = scenario.Drained();
    }
    if (!drained && !run.failed()) {
      const std::string missing = scenario.Outstanding();
      run.Fault(std::string(label) + "messages still outstanding " +
                Fixed(options.drain_timeout_s, 1) + " s after the window ended (--drain-timeout)" +
                (missing.empty() ? "" : ": " + missing));
    }
    if (!scenario.EndStep(window, drained)) break;
  }
  if (sample_server) server.end = SampleProcess(options.server_pid);
  stop_workers();
  progress.Print("closed " + WithCommas(sum(&WorkerCounters::closed_clean)) +
                 " connections cleanly");

  // Report.
  Report report;
  scenario.MakeReport(&report);
  std::vector<std::string> errors = run.errors();
  errors.insert(errors.end(), report.errors.begin(), report.errors.end());
  Histogram connect_latency;
  for (auto& w : workers) connect_latency.Merge(w->connect_latency());
  // Per server: connections planned (ServerFor) and opened, so an uneven spread or a node that
  // refused its share shows.
  std::vector<uint64_t> planned_per_server(server_count, 0);
  std::vector<uint64_t> opened_per_server(server_count, 0);
  for (uint32_t conn = 0; conn < connections; ++conn) {
    ++planned_per_server[scenario.ServerFor(conn, server_count)];
  }
  for (auto& w : workers) {
    for (uint32_t i = 0; i < server_count; ++i) opened_per_server[i] += w->opened_per_server()[i];
  }

  Json root = Json::Object();
  root.Set("tool", "ringcast-bench");
  root.Set("version", RINGCAST_BENCH_VERSION);
  root.Set("ok", errors.empty());
  Json error_list = Json::Array();
  for (const std::string& e : errors) error_list.Push(e);
  root.Set("errors", std::move(error_list));
  if (run.tolerate_faults) {
    Json faults = Json::Object();
    faults.Set("count", run.fault_count());
    Json examples = Json::Array();
    for (const std::string& f : run.fault_examples()) examples.Push(f);
    faults.Set("examples", std::move(examples));
    root.Set("faults", std::move(faults));
  }
  root.Set("command_line", command_line);
  root.Set("started_at", started_at);
  root.Set("host", HostName());
  root.Set("kernel", KernelDescription());
  root.Set("cpu_model", CpuModel());
  root.Set("online_cpus", static_cast<int64_t>(sysconf(_SC_NPROCESSORS_ONLN)));
  root.Set("scenario", scenario.name());
  root.Set("target", options.url.ToString());  // The first server; all of them under "targets".
  Json targets = Json::Array();
  for (uint32_t i = 0; i < server_count; ++i) {
    Json t = Json::Object();
    t.Set("url", options.urls[i].ToString());
    t.Set("connections", planned_per_server[i]);
    t.Set("opened", opened_per_server[i]);
    targets.Push(std::move(t));
  }
  root.Set("targets", std::move(targets));
  Json common = Json::Object();
  common.Set("threads", options.threads);
  common.Set("connect_rate", options.connect_rate);
  common.Set("max_pending", options.max_pending);
  common.Set("sources", options.sources_text);
  common.Set("source_count", static_cast<uint64_t>(options.sources.size()));
  common.Set("warmup_s", options.warmup_s);
  common.Set("duration_s", options.duration_s);
  common.Set("drain_timeout_s", options.drain_timeout_s);
  common.Set("recv_buffers", options.recv_buffers);
  common.Set("recv_buffer_size", options.recv_buffer_size);
  common.Set("fd_limit", fd_limit);
  if (options.server_pid > 0) common.Set("server_pid", static_cast<int64_t>(options.server_pid));
  root.Set("options", std::move(common));
  root.Set("config", report.config);
  Json connect = Json::Object();
  connect.Set("connections", connections);
  connect.Set("opened", opened);
  connect.Set("failed", sum(&WorkerCounters::failed));
  connect.Set("seconds", connect_seconds);
  connect.Set("rate_per_s", static_cast<double>(opened) / connect_seconds);
  connect.Set("latency_ns", HistogramToJson(connect_latency));
  root.Set("connect", std::move(connect));
  Json totals = Json::Object();
  totals.Set("messages_sent", sum(&WorkerCounters::messages_sent));
  totals.Set("messages_received", sum(&WorkerCounters::messages_received));
  totals.Set("bytes_sent", sum(&WorkerCounters::bytes_sent));
  totals.Set("bytes_received", sum(&WorkerCounters::bytes_received));
  totals.Set("payload_bytes_sent", sum(&WorkerCounters::payload_bytes_sent));
  totals.Set("payload_bytes_received", sum(&WorkerCounters::payload_bytes_received));
  totals.Set("messages_compressed_received", sum(&WorkerCounters::messages_compressed_received));
  totals.Set("deflate_connections", sum(&WorkerCounters::deflate_connections));
  totals.Set("closed_cleanly", sum(&WorkerCounters::closed_clean));
  totals.Set("loop_iterations", sum(&WorkerCounters::loop_iterations));
  totals.Set("sends", sum(&WorkerCounters::sends));
  totals.Set("recv_completions", sum(&WorkerCounters::recv_completions));
  root.Set("totals", std::move(totals));
  root.Set("results", report.results);

  printf("\nringcast-bench %s %s: %u thread(s), %s connections\n", scenario.name(),
         TargetsText(options.urls).c_str(), options.threads, WithCommas(connections).c_str());
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("connections opened",
                    WithCommas(opened) + " in " + Fixed(connect_seconds, 2) + " s (" +
                        Fixed(static_cast<double>(opened) / connect_seconds, 0) + "/s)");
  if (server_count > 1) {
    for (uint32_t i = 0; i < server_count; ++i) {
      rows.emplace_back(
          "  on " + options.urls[i].HostHeader(),
          WithCommas(opened_per_server[i]) + " of " + WithCommas(planned_per_server[i]));
    }
  }
  rows.emplace_back("handshake p50 / p99", Duration(connect_latency.Percentile(50)) + " / " +
                                               Duration(connect_latency.Percentile(99)));
  rows.insert(rows.end(), report.rows.begin(), report.rows.end());
  if (sample_server) {
    Json sj = Json::Object();
    sj.Set("pid", static_cast<int64_t>(options.server_pid));
    sj.Set("before_connect", SampleToJson(server.before_connect));
    sj.Set("after_connect", SampleToJson(server.after_connect));
    sj.Set("end", SampleToJson(server.end));
    const double per_conn = connections == 0
                                ? 0
                                : (static_cast<double>(server.end.rss_bytes) -
                                   static_cast<double>(server.before_connect.rss_bytes)) /
                                      connections;
    const double per_conn_connected = connections == 0
                                          ? 0
                                          : (static_cast<double>(server.after_connect.rss_bytes) -
                                             static_cast<double>(server.before_connect.rss_bytes)) /
                                                connections;
    sj.Set("rss_bytes_per_connection", per_conn);
    sj.Set("rss_bytes_per_connection_after_connect", per_conn_connected);
    const double connect_cpu =
        TicksToSeconds(server.after_connect.cpu_ticks - server.before_connect.cpu_ticks);
    sj.Set("cpu_seconds_connecting", connect_cpu);
    const double measured_cpu = TicksToSeconds(server.measured_ticks);
    sj.Set("cpu_seconds_measured", measured_cpu);
    sj.Set("cpu_percent_measured",
           server.measured_seconds > 0 ? 100.0 * measured_cpu / server.measured_seconds : 0.0);
    root.Set("server", std::move(sj));
    rows.emplace_back("server RSS before / after",
                      Fixed(static_cast<double>(server.before_connect.rss_bytes) / 1048576, 1) +
                          " MiB / " +
                          Fixed(static_cast<double>(server.end.rss_bytes) / 1048576, 1) + " MiB");
    rows.emplace_back("server RSS per connection",
                      Fixed(per_conn, 0) + " B (" + Fixed(per_conn / 1024, 3) + " KiB)");
    rows.emplace_back("server CPU connecting", Fixed(connect_cpu, 2) + " s");
    rows.emplace_back(
        "server CPU while measuring",
        Fixed(server.measured_seconds > 0 ? 100.0 * measured_cpu / server.measured_seconds : 0.0,
              0) +
            "%");
  }
  size_t width = 0;
  for (const auto& [label, value] : rows) width = std::max(width, label.size());
  for (const auto& [label, value] : rows) {
    printf("  %-*s  %s\n", static_cast<int>(width), label.c_str(), value.c_str());
  }
  if (!errors.empty()) {
    printf("FAILED (%zu):\n", errors.size());
    for (const std::string& e : errors) printf("  %s\n", e.c_str());
  } else {
    printf("OK: all counts add up\n");
  }
  fflush(stdout);

  if (!options.json_path.empty()) {
    std::ofstream out(options.json_path);
    out << root.Dump();
    if (!out) {
      fprintf(stderr, "ringcast-bench: cannot write %s\n", options.json_path.c_str());
      return 1;
    }
  }
  return errors.empty() ? 0 : 1;
}

}  // namespace ringcast::bench
