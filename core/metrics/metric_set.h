// Metrics in the Prometheus text exposition format 0.0.4 (docs/metrics.md lists them).
//
// Counting is per shard and plain: each shard increments its own fields (ShardStats, the chat's
// ChatMetrics), never an atomic shared with another shard. A scrape (metrics_scrape.h) asks
// every shard by mail for a MetricSet of its figures, sums them with MetricSet::Merge, adds the
// process-wide ones and renders the text. Threads that are not shards (the store's, the Redis
// bus) keep their figures in relaxed atomics of their own, read by the scrape.
//
// Owner: whoever builds it; not shared between threads while being filled.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringcast {

// Fixed buckets (upper bounds, ascending; +Inf is implicit). Observe is a short search and two
// increments: cheap enough for the per-message path.
class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds)
      : bounds_(bounds), counts_(bounds.size() + 1, 0) {}

  void Observe(double value);
  void Merge(const Histogram& other);  // Same bounds.
  // For SharedHistogram::Snapshot.
  void Set(std::vector<uint64_t> counts, double sum, uint64_t count);

  std::span<const double> bounds() const { return bounds_; }
  // Per bucket, not cumulative; the last is above every bound.
  const std::vector<uint64_t>& counts() const { return counts_; }
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

 private:
  std::span<const double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

// A Histogram that any thread may observe and any read (relaxed atomics): for the threads that
// are not shards (the store's), where one observation per batch costs nothing. The sum is kept
// in millionths.
class SharedHistogram {
 public:
  explicit SharedHistogram(std::span<const double> bounds);

  void Observe(double value);
  Histogram Snapshot() const;

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> sum_millionths_{0};
};

// Latencies in seconds, 50 µs to 10 s.
std::span<const double> LatencyBuckets();
// Sizes in items (a store batch), 1 to 4096.
std::span<const double> SizeBuckets();

using MetricLabels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class MetricSet {
 public:
  enum class Type : uint8_t { kCounter, kGauge, kHistogram };

  // Each adds `value` to the sample with these labels (created at 0), so that the same call on
  // every shard sums over the shards. A name is one family: its help and type come from the
  // first call.
  void Counter(std::string_view name, std::string_view help, double value,
               MetricLabels labels = {});
  void Gauge(std::string_view name, std::string_view help, double value, MetricLabels labels = {});
  // A counter family split by one label: a sample per {that label's value, the count}.
  void CounterBy(std::string_view name, std::string_view help, std::string_view label,
                 std::initializer_list<std::pair<std::string_view, double>> samples);
  void Observations(std::string_view name, std::string_view help, const Histogram& histogram,
                    MetricLabels labels = {});

  // Adds every sample of `other`.
  void Merge(const MetricSet& other);
  // The text format: families by name, each with HELP and TYPE, samples by labels.
  std::string Render() const;

 private:
  struct Sample {
    double value = 0;
    std::vector<uint64_t> buckets;  // Histograms: per bucket, as Histogram::counts.
    double sum = 0;
    uint64_t count = 0;
  };
  struct Family {
    Type type = Type::kCounter;
    std::string help;
    std::span<const double> bounds;         // Histograms.
    std::map<std::string, Sample> samples;  // By rendered labels: a="x",b="y".
  };
  Sample& SampleOf(std::string_view name, std::string_view help, Type type, MetricLabels labels);

  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace ringcast
