// Scenario: what one ringcast-bench subcommand does with the connections the workers open.
//
// Threads: the main thread calls Setup, BeginStep, Drained, EndStep, Progress and Report; worker
// threads call OnOpen, OnMessage, OnTick and NextWakeNs. A connection id (0 .. connections-1)
// belongs to one worker for the whole run (id % threads), so per-connection state indexed by
// id needs no locking; anything shared between workers is an atomic or lives in per-worker
// slots that the main thread reads only after the workers have stopped (or through atomics).
//
// Timeline (RunShared::phase): kConnecting until every connection is open, then kRunning for
// step_count() steps. Each step has a window [start, end): warmup until `measure`, measurement
// until `end`. Workers derive everything from the window and the clock: they generate traffic
// while now < end and count what falls inside [measure, end). After `end` the main thread polls
// Drained() until everything sent has arrived (or --drain-timeout), calls EndStep, and begins the
// next step. Then kClosing: close handshakes, and the workers exit.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "proto/ws_frame.h"
#include "tools/bench/json.h"
#include "tools/bench/url.h"

namespace ringcast::bench {

class Worker;

struct CommonOptions {
  std::vector<std::string> url_texts;
  // The servers, as given. Connection n opens to urls[Scenario::ServerFor(n, urls.size())].
  std::vector<WsUrl> urls;
  WsUrl url;  // urls[0]: its path is every connection's; setup traffic (chat's HTTP) goes here.
  uint32_t threads = 1;
  double connect_rate = 5000;  // Connections started per second, all workers; 0: no limit.
  uint32_t max_pending = 512;  // Per worker: connects + handshakes in progress at once.
  std::string sources_text;
  std::vector<uint32_t> sources;  // Host byte order; empty: let the kernel pick.
  double duration_s = 5;
  double warmup_s = 1;
  double drain_timeout_s = 10;
  double connect_timeout_s = 60;
  std::string json_path;
  pid_t server_pid = 0;
  uint32_t recv_buffers = 4096;  // Provided receive buffers per worker (power of two).
  uint32_t recv_buffer_size = 4096;
  uint64_t max_message_size = 16 << 20;
  bool quiet = false;
  // --deflate: offer permessage-deflate (client_handshake.h, kDeflateOffer); where the server
  // agrees, every message sent is compressed (as browsers do) and compressed ones received are
  // inflated before the scenario sees them.
  bool deflate = false;
  // --tolerate-faults: RunShared::tolerate_faults.
  bool tolerate_faults = false;
  // --payload chat: message padding is JSON chat events (FillPadding) instead of one repeated
  // byte, for figures of compression on chat-like traffic.
  bool chat_payload = false;
  std::string payload_text = "repeat";
};

// Writes `size` bytes of padding at `out`: `fill` repeated, or (chat_payload) a slice of JSON
// chat events that moves on with `seed` (one message's padding differs from the next one's).
void FillPadding(const CommonOptions& options, uint8_t* out, size_t size, char fill, uint64_t seed);

enum class Phase : int { kConnecting, kRunning, kClosing };

struct StepWindow {
  int index = -1;
  int64_t start_ns = 0;
  int64_t measure_ns = 0;  // Warmup ends, measurement starts.
  int64_t end_ns = 0;      // Measurement ends; no new traffic after this.
  bool Measures(int64_t t) const { return t >= measure_ns && t < end_ns; }
  double measured_seconds() const { return static_cast<double>(end_ns - measure_ns) / 1e9; }
};

// State every thread sees. Written by the main thread except for errors.
class RunShared {
 public:
  std::atomic<int> phase{static_cast<int>(Phase::kConnecting)};
  uint32_t threads = 1;
  std::vector<Worker*> workers;  // Fixed before the workers start.

  // Main thread: publishes a step's window (release); workers read it with Window().
  void PublishWindow(const StepWindow& window);
  StepWindow Window() const;

  // Any thread: a failure that makes the run's figures invalid (lost message, dropped
  // connection). Keeps the first kMaxErrors reasons and counts the rest.
  void Fail(std::string reason);
  bool failed() const { return failures_.load(std::memory_order_relaxed) > 0; }

  // --tolerate-faults, for a fault-injection run (tests/integration/test_chaos.py: servers are
  // killed and paused under this load): what such faults are expected to do to a client that
  // does not reconnect (a connection dropped, the live deliveries it missed, a send on a
  // connection already gone, messages never answered) is counted instead of failing the run.
  // A live connection that misses, repeats or reorders a message, or a wrong ack, still fails
  // it: a surviving server owes its connections every committed message, faults or not.
  bool tolerate_faults = false;
  // Any thread: such a fault; a failure unless tolerate_faults.
  void Fault(std::string reason);
  uint64_t fault_count() const { return faults_.load(std::memory_order_relaxed); }
  std::vector<std::string> fault_examples() const;
  uint64_t failure_count() const { return failures_.load(std::memory_order_relaxed); }
  std::vector<std::string> errors() const;

 private:
  static constexpr size_t kMaxErrors = 20;
  std::atomic<int> step_{-1};
  std::atomic<int64_t> start_ns_{0};
  std::atomic<int64_t> measure_ns_{0};
  std::atomic<int64_t> end_ns_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> faults_{0};
  mutable std::mutex errors_mutex_;
  std::vector<std::string> errors_;
  std::vector<std::string> fault_examples_;
};

// What a scenario hands back at the end: figures for the table and for --json.
struct Report {
  Json config = Json::Object();  // The scenario's own options.
  Json results = Json::Object();
  std::vector<std::pair<std::string, std::string>> rows;
  std::vector<std::string> errors;  // Non-empty: the run failed its own checks.

  void Row(std::string label, std::string value) {
    rows.emplace_back(std::move(label), std::move(value));
  }
};

class Scenario {
 public:
  virtual ~Scenario() = default;
  virtual const char* name() const = 0;

  // --- main thread, before the workers start ---
  virtual bool Setup(const CommonOptions& options, RunShared* run, std::string* error) = 0;
  virtual uint32_t connection_count() const = 0;
  // Connection `conn`'s HTTP request target; by default every connection's is the URL's.
  virtual std::string TargetFor(uint32_t /*conn*/) const { return url_target_; }
  // Which of `servers` URLs (0 .. servers - 1) connection `conn` opens to. Round-robin by id,
  // so consecutive connections (a chat group's members) land on different servers.
  virtual uint32_t ServerFor(uint32_t conn, uint32_t servers) const { return conn % servers; }
  virtual int step_count() const { return 1; }
  // Whether traffic may start once every connection is open (chat: every hello has arrived, so
  // each user is subscribed before anyone sends). Polled by the main thread while connecting.
  virtual bool Ready() const { return true; }
  virtual std::string ReadyProgress() const { return ""; }  // For the connecting lines.

  virtual double StepWarmupSeconds(int /*step*/) const { return warmup_s_; }
  virtual double StepSeconds(int /*step*/) const { return duration_s_; }

  // --- worker threads ---
  virtual void OnOpen(Worker& /*worker*/, uint32_t /*conn*/, int64_t /*now_ns*/) {}
  // A connection lost before the run closed it (only --tolerate-faults gets this far).
  virtual void OnDropped(Worker& /*worker*/, uint32_t /*conn*/) {}
  virtual void OnMessage(Worker& worker, uint32_t conn, ws::Opcode opcode,
                         std::span<const uint8_t> payload, int64_t now_ns) = 0;
  // Once per event-loop iteration while kRunning, before sends are flushed.
  virtual void OnTick(Worker& /*worker*/, int64_t /*now_ns*/) {}
  // When OnTick next has work (the loop sleeps no longer than that); INT64_MAX: none.
  virtual int64_t NextWakeNs(const Worker& /*worker*/) const { return INT64_MAX; }

  // --- main thread, while running ---
  virtual void BeginStep(const StepWindow& /*window*/) {}
  virtual bool Drained() const { return true; }
  // When the drain timed out: what is still missing, for the failure message ("" when the
  // scenario cannot say more than that something is).
  virtual std::string Outstanding() const { return ""; }
  // After the drain (or its timeout). Returns false to skip the remaining steps.
  virtual bool EndStep(const StepWindow& /*window*/, bool /*drained*/) { return true; }
  // What the progress lines call the measured part of a step.
  virtual const char* measure_label() const { return "measure"; }
  // One progress line (without the elapsed-time prefix), called about once a second.
  virtual std::string Progress() = 0;

  // --- main thread, after the workers have stopped ---
  virtual void MakeReport(Report* report) = 0;

 protected:
  // Setup's part that every scenario shares: the run's state, and each step's timing from the
  // common options (a scenario with its own, e.g. idle's --hold, overrides it after).
  void BindRun(const CommonOptions& common, RunShared* run) {
    run_ = run;
    common_ = &common;
    url_target_ = common.url.target;
    warmup_s_ = common.warmup_s;
    duration_s_ = common.duration_s;
  }

  RunShared* run_ = nullptr;               // Set by BindRun; outlives the scenario's use of it.
  const CommonOptions* common_ = nullptr;  // Set by BindRun; outlives it too.
  std::string url_target_;                 // Set by BindRun: the first URL's path.
  double warmup_s_ = 1;
  double duration_s_ = 5;
};

// Formatting helpers for progress lines and tables: "1,234,567", "12.3 k".
std::string WithCommas(uint64_t value);
std::string Fixed(double value, int decimals);
std::string Duration(uint64_t ns);  // "812 us", "3.41 ms"

// The rates of N running totals between consecutive Progress() calls.
template <size_t N>
class ProgressRates {
 public:
  // Per second since the previous call, in the order given; nullopt on the first call, which has
  // no interval yet.
  std::optional<std::array<double, N>> Update(const std::array<uint64_t, N>& totals,
                                              int64_t now_ns) {
    std::optional<std::array<double, N>> rates;
    if (last_ns_ != 0) {
      rates.emplace();
      for (size_t i = 0; i < N; ++i) {
        (*rates)[i] = static_cast<double>(totals[i] - last_[i]) * 1e9 /
                      static_cast<double>(now_ns - last_ns_);
      }
    }
    last_ns_ = now_ns;
    last_ = totals;
    return rates;
  }

 private:
  int64_t last_ns_ = 0;
  std::array<uint64_t, N> last_{};
};

// What a drain that timed out is missing, split by whether the receiver is on the sender's
// server: "1,200 of 9,000 deliveries missing (0 of 3,000 on the sender's server, 1,200 of 6,000
// on another)". When only deliveries that cross servers are missing, it says so: the servers
// are then not passing messages to each other (not nodes of one cluster: no --redis?).
std::string MissingDeliveries(uint64_t expected, uint64_t received, uint64_t expected_cross,
                              uint64_t received_cross, uint32_t servers);

}  // namespace ringcast::bench
