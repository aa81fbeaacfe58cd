// RateSteps: what the open-loop scenarios (fanout, chat) share — a list of offered rates run as
// steps, each step's line on stderr, stopping at the first whose latency p99 exceeds a limit,
// and the summary rows.
//
// Threads: the main thread only (EndStep, StepDone, MakeReport).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tools/bench/histogram.h"
#include "tools/bench/scenario.h"

namespace CLI {
class App;
}

namespace ringcast::bench {

struct RateStepOptions {
  std::vector<double> rates{1000};
  double p99_limit_ms = 10;
  bool keep_going = false;

  bool Over(uint64_t p99_ns) const { return p99_ns > uint64_t(p99_limit_ms * 1e6); }
  // An error message, or nullopt when the rates are usable.
  std::optional<std::string> Check() const;
  // The rates as a JSON array, for the report's config.
  Json RatesJson() const;
  // "offered rate R msg/s" for the step running now, for progress lines.
  std::string OfferedRate(const RunShared& run) const;
};

// -r/--rates, --p99-limit-ms, --keep-going. `latency` names the measured latency ("p99",
// "ack p99") in the help.
void AddRateStepOptions(CLI::App* command, RateStepOptions* options, const char* rates_help,
                        const std::string& latency);

class RateSteps {
 public:
  RateSteps(const RateStepOptions& options, std::string latency)
      : options_(options), latency_(std::move(latency)) {}

  // Step `rate` ended with this p99 over `samples` measurements; false once it is over the
  // limit (unless --keep-going). A step that measured nothing (no ack, no delivery: the server
  // failed) is over it, not an empty histogram's p99 of 0.
  bool StepDone(double rate, uint64_t p99_ns, uint64_t samples);
  // StepDone with the p99 and the sample count of the step's latency histogram.
  bool StepDone(double rate, const Histogram& latency) {
    return StepDone(rate, latency.Percentile(99), latency.count());
  }
  // A step's start: before the first step, unless `quiet`, what the load is made of (`layout`)
  // on stderr, where the steps' lines will follow it.
  void BeginStep(const StepWindow& window, bool quiet, const std::string& layout) const;
  // A step's end: unless `quiet`, its line on stderr ("rate R msg/s: <figures>", then
  // StepMarks of `latency`'s p99), and StepDone with `latency`.
  bool EndStep(double rate, const Histogram& latency, bool drained, bool quiet,
               const std::string& figures);
  // What ends a step's line: "  <- p99 over the limit" (in the latency's name) and
  // "  (not drained)", each where it applies.
  std::string StepMarks(uint64_t p99_ns, bool drained) const;
  // max_rate_within_limit and breakdown_rate into the results, and their two rows.
  void MakeReport(Report* report) const;

 private:
  const RateStepOptions& options_;
  std::string latency_;
  double best_within_limit_ = 0;
  std::optional<double> breakdown_rate_;
};

// "p50 A / B  p99 A / B  (N / M measured)": a latency split by whether the receiver is on the
// sender's server (A) or another one (B), for runs against several servers.
std::string ServerSplit(const Histogram& same, const Histogram& cross);

}  // namespace ringcast::bench
