// echo: C connections, each keeping P messages of S bytes in flight (closed loop: every reply
// releases the next message) → messages per second and round-trip times.
#include <CLI/CLI.hpp>

#include "tools/bench/bookkeeping.h"
#include "tools/bench/scenarios.h"
#include "tools/bench/system_info.h"
#include "tools/bench/worker.h"

namespace ringcast::bench {
namespace {

struct EchoOptions {
  uint32_t connections = 100;
  uint32_t pipeline = 1;
  uint32_t size = 32;
};

class EchoScenario final : public Scenario {
 public:
  explicit EchoScenario(const EchoOptions& options) : options_(options) {}
  const char* name() const override { return "echo"; }

  bool Setup(const CommonOptions& common, RunShared* run, std::string* /*error*/) override {
    BindRun(common, run);
    trackers_.resize(options_.connections);
    threads_ = std::vector<ThreadState>(common.threads);
    return true;
  }
  uint32_t connection_count() const override { return options_.connections; }

  void OnTick(Worker& worker, int64_t now) override {
    ThreadState& t = threads_[worker.index()];
    t.window = run_->Window();
    if (t.window.index != t.started_step && now >= t.window.start_ns) {
      t.started_step = t.window.index;
      for (uint32_t conn : worker.conn_ids()) {
        while (trackers_[conn].in_flight() < options_.pipeline && SendNext(worker, conn, now)) {
        }
      }
    }
  }

  void OnMessage(Worker& worker, uint32_t conn, ws::Opcode opcode, std::span<const uint8_t> payload,
                 int64_t now) override {
    ThreadState& t = threads_[worker.index()];
    int64_t sent_ns = 0;
    const EchoTracker::Check check = trackers_[conn].OnReply(payload, options_.size, &sent_ns);
    if (check != EchoTracker::Check::kOk || opcode != ws::Opcode::kBinary) {
      static constexpr const char* kWhat[] = {"a non-binary reply", "a reply nobody asked for",
                                              "a reply of the wrong size",
                                              "a reply out of sequence (lost or reordered)"};
      worker.run().Fail("echo: connection " + std::to_string(conn) + " got " +
                        kWhat[check == EchoTracker::Check::kOk ? 0 : int(check)]);
      return;
    }
    if (t.window.Measures(now)) {
      ++t.measured;
      if (sent_ns != 0) t.round_trip.Record(static_cast<uint64_t>(now - sent_ns));
    }
    SendNext(worker, conn, now);
  }

  bool Drained() const override {
    return SumCounter(*run_, &WorkerCounters::messages_sent) ==
           SumCounter(*run_, &WorkerCounters::messages_received);
  }

  void BeginStep(const StepWindow& window) override { window_ = window; }

  std::string Progress() override {
    const uint64_t sent = SumCounter(*run_, &WorkerCounters::messages_sent);
    const uint64_t received = SumCounter(*run_, &WorkerCounters::messages_received);
    const double rate = received_rate_.Update({received}, NowNs()).value_or(std::array{0.0})[0];
    return WithCommas(static_cast<uint64_t>(rate)) + " msg/s, " + WithCommas(sent - received) +
           " in flight";
  }

  void MakeReport(Report* report) override {
    report->config.Set("connections", options_.connections);
    report->config.Set("pipeline", options_.pipeline);
    report->config.Set("size", options_.size);
    uint64_t measured = 0;
    Histogram round_trip;
    for (const ThreadState& t : threads_) {
      measured += t.measured;
      round_trip.Merge(t.round_trip);
    }
    uint64_t sent = 0;
    for (uint32_t conn = 0; conn < trackers_.size(); ++conn) {
      const EchoTracker& tracker = trackers_[conn];
      sent += tracker.sent();
      if (tracker.in_flight() != 0 && report->errors.size() < 10) {
        report->errors.push_back("echo: connection " + std::to_string(conn) + " is missing " +
                                 std::to_string(tracker.in_flight()) + " replies");
      }
    }
    const double seconds = window_.measured_seconds();
    const double rate = seconds > 0 ? static_cast<double>(measured) / seconds : 0;
    report->results.Set("messages_sent", sent);
    report->results.Set("messages_measured", measured);
    report->results.Set("measured_seconds", seconds);
    report->results.Set("messages_per_s", rate);
    report->results.Set("payload_bytes_per_s", rate * options_.size);
    report->results.Set("round_trip_ns", HistogramToJson(round_trip));
    report->Row("messages/s", WithCommas(static_cast<uint64_t>(rate)) + "  (" +
                                  WithCommas(measured) + " in " + Fixed(seconds, 1) + " s; " +
                                  std::to_string(options_.connections) + " conns x " +
                                  std::to_string(options_.pipeline) + " in flight x " +
                                  std::to_string(options_.size) + " B)");
    if (round_trip.count() > 0) {
      report->Row("round trip p50/p90/p99", Duration(round_trip.Percentile(50)) + " / " +
                                                Duration(round_trip.Percentile(90)) + " / " +
                                                Duration(round_trip.Percentile(99)));
      report->Row("round trip p99.9/max",
                  Duration(round_trip.Percentile(99.9)) + " / " + Duration(round_trip.max()));
    }
  }

 private:
  struct alignas(64) ThreadState {
    StepWindow window;  // Refreshed every loop iteration.
    int started_step = -1;
    uint64_t measured = 0;  // Replies received inside the window.
    Histogram round_trip;
  };

  bool SendNext(Worker& worker, uint32_t conn, int64_t now) {
    if (now >= threads_[worker.index()].window.end_ns) return false;
    EchoTracker& tracker = trackers_[conn];
    return worker.Send(conn, ws::Opcode::kBinary, options_.size, [&](uint8_t* p) {
      tracker.WriteNext(p, options_.size, now);
      if (common_->chat_payload && options_.size > kEchoHeader) {
        FillPadding(*common_, p + kEchoHeader, options_.size - kEchoHeader, 'e', tracker.sent());
      }
    });
  }

  const EchoOptions options_;
  std::vector<EchoTracker> trackers_;  // Per connection, owned by its worker.
  std::vector<ThreadState> threads_;
  StepWindow window_;
  ProgressRates<1> received_rate_;
};

}  // namespace

void AddEchoCommand(CLI::App* app, CommonOptions* common, std::unique_ptr<Scenario>* chosen) {
  auto [command, options] = AddScenarioCommand<EchoScenario, EchoOptions>(
      app, common, chosen, "echo",
      "C connections, each with P messages of S bytes in flight → msgs/s (closed loop)");
  AddBoundedOption(command, "-c,--connections", &options->connections, "Connections", 1, 1u << 22);
  AddBoundedOption(command, "-p,--pipeline", &options->pipeline,
                   "Messages in flight per connection", 1, 1u << 16);
  AddBoundedOption(command, "-s,--size", &options->size,
                   "Payload bytes per message (>= 16 carries a timestamp and sequence number)", 1,
                   1u << 24);
}

}  // namespace ringcast::bench
