// ChatScenario: the `chat` scenario's state (chat_scenario.cc says what it measures; its report
// is chat_scenario_report.cc). Only those two files include this.
#pragma once

#include <cstdio>
#include <deque>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "tools/bench/bookkeeping.h"
#include "tools/bench/chat_protocol.h"
#include "tools/bench/chat_setup.h"
#include "tools/bench/rate_steps.h"
#include "tools/bench/runner.h"
#include "tools/bench/scenarios.h"
#include "tools/bench/step_seal.h"
#include "tools/bench/system_info.h"
#include "tools/bench/worker.h"

namespace ringcast::bench {

struct ChatOptions {
  uint32_t users = 1000;
  uint32_t groups = 100;
  uint32_t group_size = 10;
  RateStepOptions steps{.p99_limit_ms = 20};
  uint32_t body_bytes = 100;
  uint32_t setup_threads = 8;
  std::string user_prefix;  // Empty: a random one per run.
  std::string password = "ringcast-bench";
  double heartbeat_s = 30;
  // Off (--no-retry): an `unavailable` answer is counted as refused and the message dropped,
  // for overload figures (the refused share, and the ack latency of what was admitted).
  bool retry_unavailable = true;
};

class ChatScenario final : public Scenario {
 public:
  explicit ChatScenario(const ChatOptions& options) : options_(options) {}
  const char* name() const override { return "chat"; }

  bool Setup(const CommonOptions& common, RunShared* run, std::string* error) override;
  uint32_t connection_count() const override { return options_.users; }
  std::string TargetFor(uint32_t conn) const override { return ws_target_ + tokens_[conn]; }
  int step_count() const override { return static_cast<int>(options_.steps.rates.size()); }
  bool Ready() const override { return hellos_.load(std::memory_order_acquire) == options_.users; }
  std::string ReadyProgress() const override {
    return WithCommas(hellos_.load(std::memory_order_relaxed)) + " hellos";
  }

  void OnOpen(Worker& /*worker*/, uint32_t conn, int64_t now) override {
    conns_[conn].last_send_ns = now;
  }
  void OnDropped(Worker& /*worker*/, uint32_t conn) override { conns_[conn].dropped = true; }

  void OnTick(Worker& worker, int64_t now) override {
    ThreadState& t = threads_[worker.index()];
    if (seal_.Tick(&t, *run_, now)) {
      t.schedule = OpenLoopSchedule(t.window.start_ns, options_.steps.rates[size_t(t.step)],
                                    layout_.publishers());
      t.next_k = 0;
    }
    Publish(worker, now);
    if (!t.retries.empty() && t.retries.front().due_ns <= now) Retry(worker, now);
    if (now >= t.next_heartbeat_ns) Heartbeat(worker, now);
  }

  int64_t NextWakeNs(const Worker& worker) const override {
    const ThreadState& t = threads_[worker.index()];
    const int64_t retry = t.retries.empty() ? INT64_MAX : t.retries.front().due_ns;
    return std::min({t.next_wake_ns, t.next_heartbeat_ns, retry});
  }

  void OnMessage(Worker& worker, uint32_t conn, ws::Opcode opcode, std::span<const uint8_t> payload,
                 int64_t now) override;

  bool Drained() const override {
    if (!StepSeal::AllPublished(threads_, run_->Window().index)) return false;
    uint64_t sent = 0;
    for (const auto& s : sent_) sent += s.load(std::memory_order_relaxed);
    uint64_t acks = 0;
    uint64_t receipts = 0;
    for (const ThreadState& t : threads_) {
      acks += t.acks.load(std::memory_order_relaxed);
      receipts += t.receipts.load(std::memory_order_relaxed);
    }
    uint64_t refused = 0;
    for (const ThreadState& t : threads_) refused += t.refused.load(std::memory_order_relaxed);
    return acks + refused == sent && receipts == (sent - refused) * options_.group_size;
  }

  std::string Outstanding() const override {
    uint64_t sent = 0;
    uint64_t expected_cross = 0;
    for (uint32_t p = 0; p < layout_.publishers(); ++p) {
      const uint64_t n = sent_[p].load(std::memory_order_relaxed);
      sent += n;
      expected_cross += n * (options_.group_size - same_server_members_[p]);
    }
    uint64_t acks = 0;
    uint64_t receipts = 0;
    uint64_t cross = 0;
    for (const ThreadState& t : threads_) {
      acks += t.acks.load(std::memory_order_relaxed);
      receipts += t.receipts.load(std::memory_order_relaxed);
      cross += t.cross_receipts.load(std::memory_order_relaxed);
    }
    return WithCommas(sent - std::min(sent, acks)) + " of " + WithCommas(sent) + " acks missing, " +
           MissingDeliveries(sent * options_.group_size, receipts, expected_cross, cross, servers_);
  }

  void BeginStep(const StepWindow& window) override {
    rate_steps_.BeginStep(window, quiet_,
                          std::to_string(options_.users) + " users, " +
                              std::to_string(options_.groups) + " groups of " +
                              std::to_string(options_.group_size) + ", " +
                              std::to_string(layout_.publishers()) + " publishers (member, group)");
  }

  bool EndStep(const StepWindow& window, bool drained) override;
  std::string Progress() override;
  // chat_scenario_report.cc.
  void MakeReport(Report* report) override;

 private:
  struct Slot {
    uint32_t group;
    uint64_t next_seq;  // The conversation's next seq this connection must receive.
  };
  // Per connection (= user), owned by its worker.
  struct ConnState {
    std::vector<Slot> slots;  // One per group the user is in.
    bool hello = false;
    bool dropped = false;  // --tolerate-faults: lost to a fault; its counts prove nothing.
    int64_t last_send_ns = 0;
  };
  // Per publisher, owned by the worker of its user's connection.
  struct PublisherState {
    uint64_t sequence = 0;  // Messages sent, all steps.
    uint64_t acked = 0;
    std::vector<uint64_t> acked_bits;  // Bit n: message n was acked.
  };
  struct PendingRetry {
    int64_t due_ns;
    ChatStamp stamp;
  };
  // receipts counts deliveries to any member; delivery_latency measures other members only.
  struct alignas(64) ThreadState : StepCursor {
    uint64_t next_k = 0;  // Next message of the schedule (every worker walks all of them).
    int64_t next_heartbeat_ns = 0;
    uint64_t heartbeats = 0;
    std::deque<PendingRetry> retries;  // Due times ascending (each is now + a constant).
    uint64_t retried = 0;
    std::atomic<uint64_t> refused{0};  // With --no-retry: sends answered `unavailable`.
    std::vector<uint64_t> refused_per_step;
    std::atomic<uint64_t> acks{0};       // All steps, for Drained() and progress lines.
    std::vector<Histogram> ack_latency;  // Per step, measured messages.
    std::vector<uint64_t> sent, acks_per_step, acks_in_window, deliveries, deliveries_in_window;
    ChatEventParser parser;
    ChatEvent event;
    std::string scratch;
    std::string error;
  };
  struct StepResult {
    double rate = 0;
    uint64_t sent = 0;
    uint64_t acks = 0;
    uint64_t refused = 0;  // --no-retry: answered `unavailable`.
    double acks_per_s = 0;
    uint64_t deliveries = 0;
    double deliveries_per_s = 0;
    Histogram ack_latency;
    Histogram delivery_latency;
    Histogram same_server;
    Histogram cross_server;
  };

  void Publish(Worker& worker, int64_t now);
  void Heartbeat(Worker& worker, int64_t now);
  void Retry(Worker& worker, int64_t now);
  bool SendStamped(Worker& worker, ThreadState& t, const ChatStamp& stamp);
  void OnAck(Worker& worker, uint32_t conn, const ChatEvent& e, int64_t now);
  void OnChatMessage(Worker& worker, uint32_t conn, const ChatEvent& e, int64_t now);
  // MakeReport's parts: a row per step; the run's totals; the per-conversation check.
  void ReportSteps(Report* report);
  void ReportTotals(Report* report);
  void CheckDeliveries(Report* report, uint64_t sent, uint64_t acked, uint64_t refused,
                       uint64_t deliveries);
  std::string Who(uint32_t conn) const {
    return "chat: connection " + std::to_string(conn) + " (user " +
           std::to_string(user_ids_[conn]) +
           (servers_ > 1 ? ", on " + server_names_[ServerFor(conn, servers_)] : "") + ")";
  }
  // A step this stamp may belong to: known, and not sealed by this worker yet.
  bool StepOpen(const ThreadState& t, uint16_t step) const {
    return step < options_.steps.rates.size() && int{step} > t.acked;
  }

  ChatOptions options_;
  bool quiet_ = false;
  uint32_t threads_count_ = 1;
  uint32_t servers_ = 1;
  std::vector<std::string> server_names_;  // host:port per server, for failure messages.
  ChatLayout layout_;
  std::vector<uint32_t> same_server_members_;  // Per publisher: its group's members on its server.
  std::string ws_target_;                      // "/ws?token=" (plus the token per connection).
  std::vector<uint64_t> user_ids_;
  std::vector<std::string> tokens_;
  std::vector<uint64_t> conv_ids_;                     // Per group.
  std::unordered_map<uint64_t, uint32_t> conv_group_;  // Conversation id → group; read-only.
  ChatSetupResult setup_;
  std::vector<ConnState> conns_;
  std::vector<PublisherState> publishers_;
  std::vector<std::atomic<uint64_t>> sent_;  // Per publisher, written by its worker.
  std::atomic<uint32_t> hellos_{0};
  std::vector<ThreadState> threads_;
  StepSeal seal_;
  std::vector<StepResult> results_;
  RateSteps rate_steps_{options_.steps, "ack p99"};
  ProgressRates<2> rates_;  // Of acks and deliveries.
};

}  // namespace ringcast::bench
