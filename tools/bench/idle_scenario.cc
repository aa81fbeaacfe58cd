// idle: open C connections at --connect-rate and hold them for --hold seconds without traffic
// (pings are answered) → connect rate, and with --server-pid the server's RSS and CPU before
// and after, i.e. bytes of server memory per idle connection.
#include <CLI/CLI.hpp>

#include "tools/bench/scenarios.h"
#include "tools/bench/system_info.h"
#include "tools/bench/worker.h"

namespace ringcast::bench {
namespace {

struct IdleOptions {
  uint32_t connections = 10000;
  double hold_s = 10;
};

class IdleScenario final : public Scenario {
 public:
  explicit IdleScenario(const IdleOptions& options) : options_(options) {}
  const char* name() const override { return "idle"; }

  bool Setup(const CommonOptions& common, RunShared* run, std::string* /*error*/) override {
    BindRun(common, run);
    warmup_s_ = 0;
    duration_s_ = options_.hold_s;
    return true;
  }
  uint32_t connection_count() const override { return options_.connections; }

  void OnMessage(Worker& worker, uint32_t conn, ws::Opcode /*opcode*/,
                 std::span<const uint8_t> /*payload*/, int64_t /*now*/) override {
    worker.run().Fail("idle: connection " + std::to_string(conn) +
                      " received a data message nobody sent");
  }

  void BeginStep(const StepWindow& window) override { window_ = window; }
  const char* measure_label() const override { return "hold"; }

  std::string Progress() override { return WithCommas(OpenConnections()) + " connections open"; }

  bool EndStep(const StepWindow& /*window*/, bool /*drained*/) override {
    held_ += OpenConnections();
    return true;
  }

  void MakeReport(Report* report) override {
    report->config.Set("connections", options_.connections);
    report->config.Set("hold_s", options_.hold_s);
    report->results.Set("held", held_);
    report->results.Set("hold_seconds", window_.measured_seconds());
    report->Row("held", WithCommas(held_) + " connections for " +
                            Fixed(window_.measured_seconds(), 1) + " s");
    if (held_ != options_.connections) {
      report->errors.push_back("idle: only " + WithCommas(held_) + " of " +
                               WithCommas(options_.connections) +
                               " connections were still open at the end of the hold");
    }
  }

 private:
  uint64_t OpenConnections() const {
    return SumCounter(*run_, &WorkerCounters::opened) - SumCounter(*run_, &WorkerCounters::failed);
  }

  const IdleOptions options_;
  StepWindow window_;
  uint64_t held_ = 0;
};

}  // namespace

void AddIdleCommand(CLI::App* app, CommonOptions* common, std::unique_ptr<Scenario>* chosen) {
  auto [command, options] = AddScenarioCommand<IdleScenario, IdleOptions>(
      app, common, chosen, "idle",
      "Open C connections and hold them → connect rate and (--server-pid) server RSS per "
      "connection");
  AddBoundedOption(command, "-c,--connections", &options->connections, "Connections", 1, 1u << 22);
  AddRealOption(command, "--hold", &options->hold_s, "Seconds to hold them once all are open",
                Sign::kNonNegative);
}

}  // namespace ringcast::bench
