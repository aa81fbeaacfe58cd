// ringcast-bench: a WebSocket load generator on io_uring. One subcommand per scenario (and
// cpu-distance, the placement probe bench/run runs beside them); see
// tools/bench/README.md for what each measures and how to read the numbers.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "tools/bench/cpu_distance.h"
#include "tools/bench/runner.h"
#include "tools/bench/scenarios.h"

namespace ringcast::bench {

void AddCommonOptions(CLI::App* command, CommonOptions* options) {
  command
      ->add_option("url", options->url_texts,
                   "Target(s), ws://host:port/path; several servers (a cluster's nodes, same "
                   "path) share the connections round-robin")
      ->required()
      ->expected(1, -1);
  AddBoundedOption(command, "-t,--threads", &options->threads,
                   "Client threads, each with its own ring", 1, 64);
  AddRealOption(command, "--connect-rate", &options->connect_rate,
                "New connections per second, all threads together (0: unpaced)",
                Sign::kNonNegative);
  AddBoundedOption(command, "--max-pending", &options->max_pending,
                   "Connects + handshakes in progress at once, per thread", 1, 1u << 20);
  command->add_option("--sources", options->sources_text,
                      "Source addresses to bind, e.g. 127.0.0.1-127.0.0.16 (default for a "
                      "loopback target; 'none': let the kernel choose)");
  AddRealOption(command, "-d,--duration", &options->duration_s, "Measured seconds (per step)",
                Sign::kPositive);
  AddRealOption(command, "-w,--warmup", &options->warmup_s, "Seconds of traffic before measuring",
                Sign::kNonNegative);
  AddRealOption(command, "--drain-timeout", &options->drain_timeout_s,
                "Seconds to wait after a step for messages still in flight", Sign::kNonNegative);
  AddRealOption(command, "--connect-timeout", &options->connect_timeout_s,
                "Seconds for all connections to open", Sign::kPositive);
  command->add_option("--json", options->json_path, "Write every figure and histogram here");
  command->add_option("--server-pid", options->server_pid,
                      "Sample this process's RSS and CPU from /proc");
  AddBoundedOption(command, "--recv-buffers", &options->recv_buffers,
                   "Provided receive buffers per thread (power of two <= 32768)", 1, 32768);
  AddBoundedOption(command, "--recv-buffer-size", &options->recv_buffer_size,
                   "Bytes per receive buffer", 512, 1u << 20);
  command->add_flag("-q,--quiet", options->quiet, "No progress lines");
  command->add_flag("--deflate", options->deflate,
                    "Offer permessage-deflate (RFC 7692, no context takeover); where the server "
                    "agrees, compress every message sent and inflate those received");
  command->add_flag("--tolerate-faults", options->tolerate_faults,
                    "For a run under fault injection (servers killed or paused): a dropped "
                    "connection, sends on it and their missing acks are counted ('faults' in "
                    "--json) instead of failing the run; a message lost, repeated or reordered "
                    "on an open connection, or a wrong ack, still fails it. No reconnects");
  command
      ->add_option("--payload", options->payload_text,
                   "Message padding: 'repeat' (one byte repeated) or 'chat' (JSON chat events, "
                   "for compression figures)")
      ->check(CLI::IsMember({"repeat", "chat"}))
      ->each([options](const std::string& value) { options->chat_payload = value == "chat"; })
      ->capture_default_str();
}

CLI::App* AddScenarioCommand(CLI::App* app, CommonOptions* common,
                             std::unique_ptr<Scenario>* chosen, const std::string& name,
                             const std::string& help,
                             std::function<std::unique_ptr<Scenario>()> make) {
  CLI::App* command = app->add_subcommand(name, help);
  AddCommonOptions(command, common);
  command->callback([chosen, make = std::move(make)] { *chosen = make(); });
  return command;
}

void AddBoundedOption(CLI::App* command, const std::string& names, uint32_t* value,
                      const std::string& help, uint32_t min, uint32_t max) {
  command->add_option(names, *value, help)->check(CLI::Range(min, max))->capture_default_str();
}

void AddRealOption(CLI::App* command, const std::string& names, double* value,
                   const std::string& help, Sign sign) {
  command->add_option(names, *value, help)
      ->check(sign == Sign::kPositive ? CLI::PositiveNumber : CLI::NonNegativeNumber)
      ->capture_default_str();
}

namespace {

// Shell-quoted argv, so the report's command line can be pasted back.
std::string CommandLine(int argc, char** argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0) out += ' ';
    if (!arg.empty() && arg.find_first_of(" \t\n'\"\\$`!*?[]{}();&|<>#~") == std::string::npos) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

}  // namespace
}  // namespace ringcast::bench

int main(int argc, char** argv) {
  using namespace ringcast::bench;
  CLI::App app{"ringcast-bench: WebSocket load generator (io_uring)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", RINGCAST_BENCH_VERSION);
  CommonOptions options;
  std::unique_ptr<Scenario> scenario;
  AddEchoCommand(&app, &options, &scenario);
  AddBroadcastCommand(&app, &options, &scenario);
  AddFanoutCommand(&app, &options, &scenario);
  AddIdleCommand(&app, &options, &scenario);
  AddChatCommand(&app, &options, &scenario);
  CpuDistanceOptions distance;
  int distance_status = 0;
  CLI::App* distance_command = AddCpuDistanceCommand(&app, &distance, &distance_status);
  CLI11_PARSE(app, argc, argv);
  if (distance_command->parsed()) return distance_status;

  std::string error;
  if (!ParseWsUrls(options.url_texts, &options.urls, &error)) {
    fprintf(stderr, "ringcast-bench: %s\n", error.c_str());
    return 2;
  }
  options.url = options.urls.front();
  if (options.sources_text == "none") {
    options.sources.clear();  // Kept as "none" so the runner adds no loopback default.
  } else if (!ParseSourceList(options.sources_text, &options.sources, &error)) {
    fprintf(stderr, "ringcast-bench: --sources: %s\n", error.c_str());
    return 2;
  }
  const uint32_t buffers = options.recv_buffers;
  if ((buffers & (buffers - 1)) != 0) {
    fprintf(stderr, "ringcast-bench: --recv-buffers must be a power of two\n");
    return 2;
  }
  return RunBenchmark(*scenario, options, CommandLine(argc, argv));
}
