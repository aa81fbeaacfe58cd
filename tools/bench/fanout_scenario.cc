// fanout: C subscribers spread over K channels; P publishers (one channel each) send at a fixed
// open-loop rate R msgs/s in total, each message stamped with its intended send time. Latency =
// receive time − intended time, so a stalled sender or server shows up in the tail instead of
// silently slowing the offered load (no coordinated omission). Steps through --rates and
// reports the first rate whose p99 exceeds --p99-limit-ms.
//
// Several server URLs (a cluster's nodes): every channel's subscribers, and the publishers,
// spread round-robin over the servers (FanoutServer), and the latency is also split by whether
// the subscriber is on its publisher's server or another one (the cost of crossing nodes).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "tools/bench/bookkeeping.h"
#include "tools/bench/rate_steps.h"
#include "tools/bench/scenarios.h"
#include "tools/bench/step_seal.h"
#include "tools/bench/system_info.h"
#include "tools/bench/worker.h"

namespace ringcast::bench {
namespace {

struct FanoutOptions {
  uint32_t subscribers = 10000;
  uint32_t channels = 10;
  uint32_t publishers = 0;  // 0: one per channel.
  RateStepOptions steps{.p99_limit_ms = 10};
  uint32_t size = 32;
};

class FanoutScenario final : public Scenario {
 public:
  explicit FanoutScenario(const FanoutOptions& options) : options_(options) {}
  const char* name() const override { return "fanout"; }

  bool Setup(const CommonOptions& common, RunShared* run, std::string* error) override {
    if (options_.publishers == 0) options_.publishers = options_.channels;
    if (options_.publishers < options_.channels) {
      *error = "--publishers must be at least --channels (a publisher sends on its own channel)";
      return false;
    }
    if (options_.size < kFanoutHeader) {
      *error = "--size must be at least " + std::to_string(kFanoutHeader);
      return false;
    }
    if (auto problem = options_.steps.Check()) {
      *error = *problem;
      return false;
    }
    BindRun(common, run);
    quiet_ = common.quiet;
    // "ws://host:port" → /raw/ch-<n>; any other path is the channel prefix itself.
    prefix_ = common.url.target == "/" ? "/raw/ch-" : common.url.target;
    servers_ = static_cast<uint32_t>(common.urls.size());
    const uint32_t k = options_.channels;
    slots_ = (options_.publishers + k - 1) / k;
    receivers_per_channel_.assign(k, 0);
    subscribers_per_channel_.assign(k, 0);
    for (uint32_t c = 0; c < options_.subscribers; ++c) ++subscribers_per_channel_[c % k];
    receivers_per_channel_ = subscribers_per_channel_;
    for (uint32_t p = 0; p < options_.publishers; ++p) ++receivers_per_channel_[p % k];
    server_of_.resize(connection_count());
    for (uint32_t c = 0; c < connection_count(); ++c) server_of_[c] = ServerFor(c, servers_);
    // Per channel and server: its receivers there (subscribers and publishers, which hear their
    // channel too), so each publisher's receivers on its own server are known for Outstanding().
    std::vector<uint32_t> receivers_on(size_t{k} * servers_, 0);
    for (uint32_t c = 0; c < connection_count(); ++c) {
      ++receivers_on[size_t{ChannelOf(c)} * servers_ + server_of_[c]];
    }
    same_server_receivers_.resize(options_.publishers);
    for (uint32_t p = 0; p < options_.publishers; ++p) {
      same_server_receivers_[p] =
          receivers_on[size_t{p % k} * servers_ + server_of_[PublisherConn(p)]];
    }
    sequences_.Reset(connection_count(), slots_);
    published_ = std::vector<std::atomic<uint64_t>>(options_.publishers);
    threads_ = std::vector<ThreadState>(common.threads);
    for (uint32_t i = 0; i < common.threads; ++i) {
      threads_[i].ResizeLatency(options_.steps.rates.size());
      threads_[i].deliveries.assign(options_.steps.rates.size(), 0);
      threads_[i].in_window.assign(options_.steps.rates.size(), 0);
    }
    for (uint32_t p = 0; p < options_.publishers; ++p) {
      threads_[(options_.subscribers + p) % common.threads].publishers.push_back({p, 0, 0});
    }
    return true;
  }
  uint32_t connection_count() const override { return options_.subscribers + options_.publishers; }
  std::string TargetFor(uint32_t conn) const override {
    return prefix_ + std::to_string(ChannelOf(conn));
  }
  uint32_t ServerFor(uint32_t conn, uint32_t servers) const override {
    return conn < options_.subscribers
               ? FanoutServer(conn, options_.channels, servers)
               : FanoutServer(conn - options_.subscribers, options_.channels, servers);
  }
  int step_count() const override { return static_cast<int>(options_.steps.rates.size()); }

  void OnTick(Worker& worker, int64_t now) override {
    ThreadState& t = threads_[worker.index()];
    if (seal_.Tick(&t, *run_, now)) {
      t.schedule = OpenLoopSchedule(t.window.start_ns, options_.steps.rates[size_t(t.step)],
                                    options_.publishers);
      for (PublisherState& p : t.publishers) p.next = t.schedule.FirstFor(p.index);
    }
    Publish(worker, now);
  }

  int64_t NextWakeNs(const Worker& worker) const override {
    return threads_[worker.index()].next_wake_ns;
  }

  void OnMessage(Worker& worker, uint32_t conn, ws::Opcode /*opcode*/,
                 std::span<const uint8_t> payload, int64_t now) override {
    ThreadState& t = threads_[worker.index()];
    if (payload.size() != options_.size) {
      worker.run().Fail("fanout: connection " + std::to_string(conn) + " got a wrong-size message");
      return;
    }
    const FanoutMessage m = ReadFanout(payload.data());
    if (m.publisher >= options_.publishers || m.publisher % options_.channels != ChannelOf(conn) ||
        m.step >= options_.steps.rates.size() || int{m.step} <= t.acked) {
      worker.run().Fail("fanout: connection " + std::to_string(conn) +
                        " got a message of another channel or of a finished step");
      return;
    }
    const SequenceTracker::Check check =
        sequences_.Observe(conn, m.publisher / options_.channels, m.sequence);
    if (check != SequenceTracker::Check::kOk) {
      worker.run().Fail("fanout: connection " + std::to_string(conn) + ": message " +
                        std::to_string(m.sequence) + " of publisher " +
                        std::to_string(m.publisher) +
                        (check == SequenceTracker::Check::kGap ? " arrived after a gap (lost)"
                                                               : " arrived twice or late"));
      return;
    }
    const bool cross = server_of_[conn] != server_of_[PublisherConn(m.publisher)];
    t.CountReceipt(cross);
    if (conn >= options_.subscribers) return;  // A publisher hearing its channel.
    ++t.deliveries[m.step];
    t.subscriber_receipts.store(t.subscriber_receipts.load(std::memory_order_relaxed) + 1,
                                std::memory_order_relaxed);
    if (t.window.Measures(now) && m.step == t.window.index) ++t.in_window[m.step];
    if (m.flags & kFanoutMeasured) {
      if (now < m.intended_ns) {
        worker.run().Fail("fanout: a message arrived before its intended send time");
        return;
      }
      t.RecordLatency(m.step, cross, static_cast<uint64_t>(now - m.intended_ns));
    }
  }

  bool Drained() const override {
    if (!StepSeal::AllPublished(threads_, run_->Window().index)) return false;
    uint64_t expected = 0;
    for (uint32_t p = 0; p < options_.publishers; ++p) {
      expected += published_[p].load(std::memory_order_relaxed) *
                  receivers_per_channel_[p % options_.channels];
    }
    uint64_t received = 0;
    for (const ThreadState& t : threads_) received += t.receipts.load(std::memory_order_relaxed);
    return received == expected;
  }

  std::string Outstanding() const override {
    uint64_t expected = 0;
    uint64_t expected_cross = 0;
    for (uint32_t p = 0; p < options_.publishers; ++p) {
      const uint64_t published = published_[p].load(std::memory_order_relaxed);
      const uint32_t receivers = receivers_per_channel_[p % options_.channels];
      expected += published * receivers;
      expected_cross += published * (receivers - same_server_receivers_[p]);
    }
    uint64_t received = 0;
    uint64_t received_cross = 0;
    for (const ThreadState& t : threads_) {
      received += t.receipts.load(std::memory_order_relaxed);
      received_cross += t.cross_receipts.load(std::memory_order_relaxed);
    }
    return MissingDeliveries(expected, received, expected_cross, received_cross, servers_);
  }

  void BeginStep(const StepWindow& window) override {
    rate_steps_.BeginStep(window, quiet_,
                          std::to_string(options_.subscribers) + " subscribers on " +
                              std::to_string(options_.channels) + " channels, " +
                              std::to_string(options_.publishers) + " publishers");
  }

  bool EndStep(const StepWindow& window, bool drained) override;
  std::string Progress() override;
  void MakeReport(Report* report) override;

 private:
  struct PublisherState {
    uint32_t index;
    uint64_t next;      // Next message index of the schedule this publisher sends.
    uint64_t sequence;  // Messages sent so far, all steps.
  };
  // receipts counts every receiver (publishers hear their channel too).
  struct alignas(64) ThreadState : StepCursor {
    std::vector<PublisherState> publishers;
    std::atomic<uint64_t> subscriber_receipts{0};  // For progress lines.
    std::vector<uint64_t> deliveries;              // Per step, subscriber receipts.
    std::vector<uint64_t> in_window;               // Per step, received inside the window.
  };
  struct StepResult {
    double rate = 0;
    double offered_deliveries_per_s = 0;
    double deliveries_per_s = 0;
    uint64_t deliveries = 0;
    Histogram latency;
    Histogram same_server;
    Histogram cross_server;
  };

  uint32_t ChannelOf(uint32_t conn) const {
    return conn < options_.subscribers ? conn % options_.channels
                                       : (conn - options_.subscribers) % options_.channels;
  }
  uint32_t PublisherConn(uint32_t publisher) const { return options_.subscribers + publisher; }
  void Publish(Worker& worker, int64_t now);

  FanoutOptions options_;
  bool quiet_ = false;
  std::string prefix_;
  uint32_t slots_ = 1;
  std::vector<uint32_t> subscribers_per_channel_;
  std::vector<uint32_t> receivers_per_channel_;  // Subscribers + publishers.
  uint32_t servers_ = 1;
  std::vector<uint32_t> server_of_;               // Per connection: its server (ServerFor).
  std::vector<uint32_t> same_server_receivers_;   // Per publisher: its channel's receivers there.
  SequenceTracker sequences_;                     // Slot per connection, owned by its worker.
  std::vector<std::atomic<uint64_t>> published_;  // Per publisher, written by its worker.
  std::vector<ThreadState> threads_;
  StepSeal seal_;
  std::vector<StepResult> results_;
  RateSteps rate_steps_{options_.steps, "p99"};
  ProgressRates<1> receipts_rate_;
};

void FanoutScenario::Publish(Worker& worker, int64_t now) {
  ThreadState& t = threads_[worker.index()];
  t.next_wake_ns = INT64_MAX;
  if (t.step < 0 || t.step <= t.acked) return;
  for (PublisherState& p : t.publishers) {
    while (true) {
      const int64_t intended = t.schedule.IntendedNs(p.next);
      if (intended >= t.window.end_ns) break;
      if (intended > now) {
        t.next_wake_ns = std::min(t.next_wake_ns, intended);
        break;
      }
      FanoutMessage m;
      m.intended_ns = intended;
      m.sequence = p.sequence;
      m.publisher = p.index;
      m.step = static_cast<uint16_t>(t.step);
      m.flags = t.window.Measures(intended) ? kFanoutMeasured : 0;
      if (!worker.Send(PublisherConn(p.index), ws::Opcode::kBinary, options_.size,
                       [&](uint8_t* out) { WriteFanout(out, options_.size, m); })) {
        worker.run().Fail("fanout: publisher " + std::to_string(p.index) + " is not open");
        return;
      }
      ++p.sequence;
      published_[p.index].store(p.sequence, std::memory_order_relaxed);
      p.next += options_.publishers;
    }
  }
  if (t.next_wake_ns == INT64_MAX) t.published_step.store(t.step, std::memory_order_release);
}

bool FanoutScenario::EndStep(const StepWindow& window, bool drained) {
  if (!seal_.Seal(run_, window.index, threads_, "fanout")) return false;
  StepResult result;
  const auto step = static_cast<size_t>(window.index);
  result.rate = options_.steps.rates[step];
  for (uint32_t c = 0; c < options_.channels; ++c) {
    // Each channel gets the share of the rate its publishers carry.
    const uint32_t pubs = options_.publishers / options_.channels +
                          (c < options_.publishers % options_.channels ? 1 : 0);
    result.offered_deliveries_per_s +=
        result.rate * pubs / options_.publishers * subscribers_per_channel_[c];
  }
  uint64_t in_window = 0;
  for (const ThreadState& t : threads_) {
    t.MergeLatency(step, &result.latency, &result.same_server, &result.cross_server);
    result.deliveries += t.deliveries[step];
    in_window += t.in_window[step];
  }
  result.deliveries_per_s = static_cast<double>(in_window) / window.measured_seconds();
  const Histogram& latency = result.latency;
  const bool next = rate_steps_.EndStep(
      result.rate, latency, drained, quiet_,
      "p50 " + Duration(latency.Percentile(50)) + "  p99 " + Duration(latency.Percentile(99)) +
          "  max " + Duration(latency.max()) + "  deliveries/s " +
          WithCommas(uint64_t(result.deliveries_per_s)) + " (offered " +
          WithCommas(uint64_t(result.offered_deliveries_per_s)) + ")");
  results_.push_back(std::move(result));
  return next;
}

std::string FanoutScenario::Progress() {
  uint64_t receipts = 0;
  for (const ThreadState& t : threads_) {
    receipts += t.subscriber_receipts.load(std::memory_order_relaxed);
  }
  std::string line;
  if (const auto per_s = receipts_rate_.Update({receipts}, NowNs())) {
    line = WithCommas(static_cast<uint64_t>((*per_s)[0])) + " deliveries/s";
  }
  return line + (line.empty() ? "" : ", ") + options_.steps.OfferedRate(*run_);
}

void FanoutScenario::MakeReport(Report* report) {
  report->config.Set("subscribers", options_.subscribers);
  report->config.Set("channels", options_.channels);
  report->config.Set("publishers", options_.publishers);
  report->config.Set("size", options_.size);
  report->config.Set("p99_limit_ms", options_.steps.p99_limit_ms);
  report->config.Set("channel_prefix", prefix_);
  report->config.Set("rates", options_.steps.RatesJson());
  Json steps = Json::Array();
  for (size_t i = 0; i < results_.size(); ++i) {
    const StepResult& r = results_[i];
    Json step = Json::Object();
    step.Set("rate", r.rate);
    step.Set("offered_deliveries_per_s", r.offered_deliveries_per_s);
    step.Set("deliveries_per_s", r.deliveries_per_s);
    step.Set("deliveries", r.deliveries);
    SetDeliveryLatency(&step, "latency", r.latency, r.same_server, r.cross_server, servers_);
    steps.Push(std::move(step));
    const bool over = options_.steps.Over(r.latency.Percentile(99));
    report->Row("rate " + WithCommas(uint64_t(r.rate)) + " msg/s",
                "p50 " + Duration(r.latency.Percentile(50)) + "  p99 " +
                    Duration(r.latency.Percentile(99)) + "  p99.9 " +
                    Duration(r.latency.Percentile(99.9)) + "  max " + Duration(r.latency.max()) +
                    "  " + WithCommas(uint64_t(r.deliveries_per_s)) + " deliveries/s" +
                    (over ? "  (p99 over limit)" : ""));
    if (servers_ > 1)
      report->Row("  same / other server", ServerSplit(r.same_server, r.cross_server));
  }
  report->results.Set("steps", std::move(steps));
  rate_steps_.MakeReport(report);
}

}  // namespace

void AddFanoutCommand(CLI::App* app, CommonOptions* common, std::unique_ptr<Scenario>* chosen) {
  auto [command, options] = AddScenarioCommand<FanoutScenario, FanoutOptions>(
      app, common, chosen, "fanout",
      "C subscribers over K channels, open-loop publishers at R msgs/s → delivery latency from "
      "the intended send time. URL: ws://host:port (channels /raw/ch-N) or a channel prefix; "
      "several URLs (a cluster's nodes): every channel's subscribers and the publishers "
      "round-robin over them");
  AddBoundedOption(command, "-c,--connections,--subscribers", &options->subscribers, "Subscribers",
                   1, 1u << 22);
  AddBoundedOption(command, "-k,--channels", &options->channels, "Channels", 1, 1u << 20);
  command->add_option("--publishers", options->publishers,
                      "Publisher connections (>= channels; default one per channel)");
  AddRateStepOptions(command, &options->steps,
                     "Total publish rate(s), msgs/s; a list steps through them", "p99");
  AddBoundedOption(command, "-s,--size", &options->size, "Payload bytes per message",
                   uint32_t(kFanoutHeader), 1u << 20);
}

}  // namespace ringcast::bench
