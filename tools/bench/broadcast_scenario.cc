// broadcast: C clients on one channel; in each iteration every client sends one message and the
// iteration ends when every client has received all C of them (the N² pattern, sender
// included) → iterations/s and deliveries/s (iterations × C × C per second).
#include <CLI/CLI.hpp>

#include "tools/bench/bookkeeping.h"
#include "tools/bench/scenarios.h"
#include "tools/bench/system_info.h"
#include "tools/bench/worker.h"

namespace ringcast::bench {
namespace {

struct BroadcastOptions {
  uint32_t connections = 100;
  uint32_t size = 20;
};

class BroadcastScenario final : public Scenario {
 public:
  explicit BroadcastScenario(const BroadcastOptions& options) : options_(options) {}
  const char* name() const override { return "broadcast"; }

  bool Setup(const CommonOptions& common, RunShared* run, std::string* error) override {
    if (options_.size < kBroadcastHeader) {
      *error = "--size must be at least " + std::to_string(kBroadcastHeader) +
               " (iteration number and sender)";
      return false;
    }
    BindRun(common, run);
    per_iteration_ = uint64_t{options_.connections} * options_.connections;
    clients_.resize(options_.connections);
    threads_ = std::vector<ThreadState>(common.threads);
    return true;
  }
  uint32_t connection_count() const override { return options_.connections; }

  void BeginStep(const StepWindow& window) override {
    window_ = window;
    active_.store(true, std::memory_order_relaxed);
    barrier_.Begin(1, per_iteration_, NowNs());
  }

  void OnTick(Worker& worker, int64_t now) override {
    ThreadState& t = threads_[worker.index()];
    t.window = run_->Window();
    FlushReceipts(worker, now);
    const uint64_t iteration = barrier_.iteration();
    if (iteration > t.iteration) Advance(worker, iteration);
  }

  void OnMessage(Worker& worker, uint32_t conn, ws::Opcode /*opcode*/,
                 std::span<const uint8_t> payload, int64_t now) override {
    ThreadState& t = threads_[worker.index()];
    if (payload.size() != options_.size) {
      worker.run().Fail("broadcast: connection " + std::to_string(conn) +
                        " got a message of the wrong size");
      return;
    }
    const uint64_t iteration = LoadU64(payload.data());
    BroadcastCheck check =
        CountBroadcast(&clients_[conn], iteration, t.iteration, options_.connections);
    if (check == BroadcastCheck::kFutureIteration && iteration == t.iteration + 1 &&
        barrier_.iteration() == iteration) {
      // Another worker completed the iteration and its clients' next messages beat our own
      // OnTick here; our receipts for the old one are all counted (it could not complete
      // otherwise), so catch up and count this one.
      Advance(worker, iteration);
      check = CountBroadcast(&clients_[conn], iteration, t.iteration, options_.connections);
    }
    if (check != BroadcastCheck::kOk) {
      static constexpr const char* kWhat[] = {"", "a message from an earlier iteration",
                                              "a message from a later iteration",
                                              "more messages than there are clients"};
      worker.run().Fail("broadcast: connection " + std::to_string(conn) + " got " +
                        kWhat[int(check)] + " in iteration " + std::to_string(t.iteration));
      return;
    }
    ++t.pending;
    ++t.receipts;
    if (t.window.Measures(now)) ++t.measured_receipts;
  }

  bool Drained() const override { return !active_.load(std::memory_order_acquire); }

  bool EndStep(const StepWindow& /*window*/, bool drained) override {
    if (!drained) {
      run_->Fail("broadcast: iteration " + std::to_string(barrier_.iteration()) + " still misses " +
                 WithCommas(barrier_.remaining()) + " of " + WithCommas(per_iteration_) +
                 " deliveries (is the URL a channel that delivers every message to every client, "
                 "the sender included?)");
    }
    return true;
  }

  std::string Progress() override {
    const uint64_t completed = completed_.load(std::memory_order_relaxed);
    const uint64_t received = SumCounter(*run_, &WorkerCounters::messages_received);
    std::string line;
    if (const auto per_s = rates_.Update({received, completed}, NowNs())) {
      const auto [deliveries, iterations] = *per_s;
      line = WithCommas(static_cast<uint64_t>(deliveries)) + " deliveries/s, " +
             Fixed(iterations, 1) + " iterations/s, ";
    }
    return line + WithCommas(completed) + " iterations done";
  }

  void MakeReport(Report* report) override {
    report->config.Set("connections", options_.connections);
    report->config.Set("size", options_.size);
    uint64_t receipts = 0;
    uint64_t measured = 0;
    uint64_t measured_iterations = 0;
    Histogram iteration_ns;
    for (const ThreadState& t : threads_) {
      receipts += t.receipts;
      measured += t.measured_receipts;
      measured_iterations += t.measured_iterations;
      iteration_ns.Merge(t.iteration_ns);
    }
    const uint64_t completed = completed_.load();
    if (!active_.load() && receipts != completed * per_iteration_) {
      report->errors.push_back("broadcast: " + WithCommas(receipts) + " deliveries counted for " +
                               WithCommas(completed) + " complete iterations of " +
                               WithCommas(per_iteration_));
    }
    const double seconds = window_.measured_seconds();
    const double deliveries_per_s = seconds > 0 ? static_cast<double>(measured) / seconds : 0;
    const double iterations_per_s = deliveries_per_s / static_cast<double>(per_iteration_);
    report->results.Set("iterations_completed", completed);
    report->results.Set("iterations_completed_in_window", measured_iterations);
    report->results.Set("deliveries", receipts);
    report->results.Set("deliveries_in_window", measured);
    report->results.Set("measured_seconds", seconds);
    report->results.Set("deliveries_per_s", deliveries_per_s);
    report->results.Set("iterations_per_s", iterations_per_s);
    report->results.Set("iteration_ns", HistogramToJson(iteration_ns));
    report->Row("deliveries/s", WithCommas(static_cast<uint64_t>(deliveries_per_s)) + "  (" +
                                    WithCommas(measured) + " in " + Fixed(seconds, 1) + " s)");
    report->Row("iterations/s", Fixed(iterations_per_s, 2) + "  (" +
                                    std::to_string(options_.connections) + " clients, " +
                                    WithCommas(per_iteration_) + " deliveries each, " +
                                    WithCommas(completed) + " completed)");
    if (iteration_ns.count() > 0) {
      report->Row("iteration p50/p99/max", Duration(iteration_ns.Percentile(50)) + " / " +
                                               Duration(iteration_ns.Percentile(99)) + " / " +
                                               Duration(iteration_ns.max()));
    }
  }

 private:
  struct alignas(64) ThreadState {
    StepWindow window;
    uint64_t iteration = 0;  // Started locally: our clients have sent their message for it.
    uint64_t pending = 0;    // Receipts not yet subtracted from the barrier.
    uint64_t receipts = 0;
    uint64_t measured_receipts = 0;
    uint64_t measured_iterations = 0;
    Histogram iteration_ns;  // Iterations this worker completed, start to last delivery.
  };

  void Advance(Worker& worker, uint64_t iteration) {
    ThreadState& t = threads_[worker.index()];
    t.iteration = iteration;
    for (uint32_t conn : worker.conn_ids()) {
      worker.Send(conn, ws::Opcode::kBinary, options_.size, [&](uint8_t* p) {
        StoreU64(p, iteration);
        StoreU32(p + 8, conn);
        FillPadding(*common_, p + kBroadcastHeader, options_.size - kBroadcastHeader, 'b',
                    iteration * 131 + conn);
      });
    }
  }

  // Subtracts this worker's receipts from the barrier once per loop iteration (one atomic per
  // batch, not per message); the worker that completes an iteration starts the next.
  void FlushReceipts(Worker& worker, int64_t now) {
    ThreadState& t = threads_[worker.index()];
    const uint64_t n = t.pending;
    t.pending = 0;
    const IterationBarrier::Result result = barrier_.Deliver(n);
    if (result == IterationBarrier::Result::kTooMany) {
      worker.run().Fail("broadcast: more deliveries than clients x clients in iteration " +
                        std::to_string(t.iteration));
      return;
    }
    if (result != IterationBarrier::Result::kCompleted) return;
    const uint64_t iteration = barrier_.iteration();
    completed_.fetch_add(1, std::memory_order_relaxed);
    if (t.window.Measures(now)) {
      ++t.measured_iterations;
      t.iteration_ns.Record(static_cast<uint64_t>(now - barrier_.started_ns()));
    }
    if (now >= t.window.end_ns || worker.run().failed()) {
      active_.store(false, std::memory_order_release);
      return;
    }
    barrier_.Begin(iteration + 1, per_iteration_, now);
    for (Worker* other : worker.run().workers) {
      if (other != &worker) other->Wake();
    }
    Advance(worker, iteration + 1);
  }

  const BroadcastOptions options_;
  uint64_t per_iteration_ = 0;
  IterationBarrier barrier_;
  std::atomic<bool> active_{false};  // An iteration is running or about to start.
  std::atomic<uint64_t> completed_{0};
  std::vector<BroadcastClient> clients_;  // Per connection, owned by its worker.
  std::vector<ThreadState> threads_;
  StepWindow window_;
  ProgressRates<2> rates_;  // Of deliveries and completed iterations.
};

}  // namespace

void AddBroadcastCommand(CLI::App* app, CommonOptions* common, std::unique_ptr<Scenario>* chosen) {
  auto [command, options] = AddScenarioCommand<BroadcastScenario, BroadcastOptions>(
      app, common, chosen, "broadcast",
      "C clients on one channel URL; every iteration each sends one message and waits for all "
      "C → deliveries/s");
  AddBoundedOption(command, "-c,--connections", &options->connections, "Clients", 1, 1u << 20);
  AddBoundedOption(command, "-s,--size", &options->size, "Binary payload bytes per message",
                   uint32_t(kBroadcastHeader), 1u << 20);
}

}  // namespace ringcast::bench
