#include "tools/bench/rate_steps.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>

namespace ringcast::bench {

std::optional<std::string> RateStepOptions::Check() const {
  if (rates.empty() || rates.size() > 1000) return "--rates needs 1 to 1000 rates";
  for (double rate : rates) {
    if (!(rate > 0)) return "rates must be positive";
  }
  return std::nullopt;
}

Json RateStepOptions::RatesJson() const {
  Json out = Json::Array();
  for (double r : rates) out.Push(r);
  return out;
}

std::string RateStepOptions::OfferedRate(const RunShared& run) const {
  const StepWindow window = run.Window();
  return "offered rate " + WithCommas(uint64_t(rates[size_t(std::max(0, window.index))])) +
         " msg/s";
}

void AddRateStepOptions(CLI::App* command, RateStepOptions* options, const char* rates_help,
                        const std::string& latency) {
  command->add_option("-r,--rates,--rate", options->rates, rates_help)
      ->delimiter(',')
      ->capture_default_str();
  std::string threshold = latency == "p99" ? "Latency" : "Ack latency";
  command->add_option("--p99-limit-ms", options->p99_limit_ms, threshold + " breakdown threshold")
      ->capture_default_str();
  command->add_flag("--keep-going", options->keep_going,
                    "Run every rate even after " + latency + " exceeds the limit");
}

bool RateSteps::StepDone(double rate, uint64_t p99_ns, uint64_t samples) {
  if (samples > 0 && !options_.Over(p99_ns)) {
    best_within_limit_ = std::max(best_within_limit_, rate);
    return true;
  }
  if (breakdown_rate_) return true;  // Only with --keep-going do later steps run.
  breakdown_rate_ = rate;
  return options_.keep_going;
}

void RateSteps::BeginStep(const StepWindow& window, bool quiet, const std::string& layout) const {
  if (window.index == 0 && !quiet) fprintf(stderr, "           %s\n", layout.c_str());
}

bool RateSteps::EndStep(double rate, const Histogram& latency, bool drained, bool quiet,
                        const std::string& figures) {
  if (!quiet) {
    fprintf(stderr, "           rate %s msg/s: %s%s\n", WithCommas(uint64_t(rate)).c_str(),
            figures.c_str(), StepMarks(latency.Percentile(99), drained).c_str());
  }
  return StepDone(rate, latency);
}

std::string RateSteps::StepMarks(uint64_t p99_ns, bool drained) const {
  return (options_.Over(p99_ns) ? "  <- " + latency_ + " over the limit" : std::string()) +
         (drained ? "" : "  (not drained)");
}

void RateSteps::MakeReport(Report* report) const {
  report->results.Set("max_rate_within_limit", best_within_limit_);
  report->results.Set("breakdown_rate", breakdown_rate_ ? Json(*breakdown_rate_) : Json());
  report->Row("highest rate with " + latency_ + " <= " + Fixed(options_.p99_limit_ms, 1) + " ms",
              best_within_limit_ > 0 ? WithCommas(uint64_t(best_within_limit_)) + " msg/s"
                                     : "none of the rates");
  report->Row(
      "first rate with " + latency_ + " over it",
      breakdown_rate_ ? WithCommas(uint64_t(*breakdown_rate_)) + " msg/s" : "none of the rates");
}

std::string ServerSplit(const Histogram& same, const Histogram& cross) {
  const auto pct = [](const Histogram& h, double q) {
    return h.count() == 0 ? std::string("-") : Duration(h.Percentile(q));
  };
  return "p50 " + pct(same, 50) + " / " + pct(cross, 50) + "  p99 " + pct(same, 99) + " / " +
         pct(cross, 99) + "  (" + WithCommas(same.count()) + " / " + WithCommas(cross.count()) +
         " measured)";
}

}  // namespace ringcast::bench
