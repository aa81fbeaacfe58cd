#include "core/metrics/metric_set.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace ringcast {
namespace {

constexpr double kLatencyBuckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                      0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                      0.5,     1,      2.5,     5,      10};
constexpr double kSizeBuckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};

// Label values may hold anything; the format escapes backslash, quote and newline.
void AppendLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
}

std::string RenderLabels(MetricLabels labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!out.empty()) out.push_back(',');
    out.append(name).append("=\"");
    AppendLabelValue(out, value);
    out.push_back('"');
  }
  return out;
}

void AppendNumber(std::string& out, double value) {
  if (std::isinf(value)) {
    out.append(value > 0 ? "+Inf" : "-Inf");
    return;
  }
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, ec == std::errc() ? end : buffer);
}

// HELP text escapes backslash and newline.
void AppendHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
}

void AppendSample(std::string& out, std::string_view name, std::string_view suffix,
                  std::string_view labels, std::string_view extra_label, double value) {
  out.append(name).append(suffix);
  if (!labels.empty() || !extra_label.empty()) {
    out.push_back('{');
    out.append(labels);
    if (!labels.empty() && !extra_label.empty()) out.push_back(',');
    out.append(extra_label);
    out.push_back('}');
  }
  out.push_back(' ');
  AppendNumber(out, value);
  out.push_back('\n');
}

}  // namespace

std::span<const double> LatencyBuckets() { return kLatencyBuckets; }
std::span<const double> SizeBuckets() { return kSizeBuckets; }

void Histogram::Observe(double value) {
  const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  ++counts_[size_t(bucket)];
  sum_ += value;
  ++count_;
}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < counts_.size() && i < other.counts_.size(); ++i) {
    counts_[i] += other.counts_[i];
  }
  sum_ += other.sum_;
  count_ += other.count_;
}

void Histogram::Set(std::vector<uint64_t> counts, double sum, uint64_t count) {
  counts_ = std::move(counts);
  sum_ = sum;
  count_ = count;
}

SharedHistogram::SharedHistogram(std::span<const double> bounds)
    : bounds_(bounds), counts_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void SharedHistogram::Observe(double value) {
  const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[size_t(bucket)].fetch_add(1, std::memory_order_relaxed);
  sum_millionths_.fetch_add(uint64_t(std::max(0.0, value) * 1e6), std::memory_order_relaxed);
}

Histogram SharedHistogram::Snapshot() const {
  Histogram out(bounds_);
  std::vector<uint64_t> counts(bounds_.size() + 1);
  uint64_t count = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    counts[i] = counts_[i].load(std::memory_order_relaxed);
    count += counts[i];
  }
  out.Set(std::move(counts), double(sum_millionths_.load(std::memory_order_relaxed)) / 1e6, count);
  return out;
}

MetricSet::Sample& MetricSet::SampleOf(std::string_view name, std::string_view help, Type type,
                                       MetricLabels labels) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{type, std::string(help), {}, {}}).first;
  }
  return it->second.samples[RenderLabels(labels)];
}

void MetricSet::Counter(std::string_view name, std::string_view help, double value,
                        MetricLabels labels) {
  SampleOf(name, help, Type::kCounter, labels).value += value;
}

void MetricSet::CounterBy(std::string_view name, std::string_view help, std::string_view label,
                          std::initializer_list<std::pair<std::string_view, double>> samples) {
  for (const auto& [label_value, value] : samples) {
    Counter(name, help, value, {{label, label_value}});
  }
}

void MetricSet::Gauge(std::string_view name, std::string_view help, double value,
                      MetricLabels labels) {
  SampleOf(name, help, Type::kGauge, labels).value += value;
}

void MetricSet::Observations(std::string_view name, std::string_view help,
                             const Histogram& histogram, MetricLabels labels) {
  Sample& sample = SampleOf(name, help, Type::kHistogram, labels);
  families_.find(name)->second.bounds = histogram.bounds();
  if (sample.buckets.empty()) sample.buckets.assign(histogram.counts().size(), 0);
  for (size_t i = 0; i < sample.buckets.size() && i < histogram.counts().size(); ++i) {
    sample.buckets[i] += histogram.counts()[i];
  }
  sample.sum += histogram.sum();
  sample.count += histogram.count();
}

void MetricSet::Merge(const MetricSet& other) {
  for (const auto& [name, family] : other.families_) {
    auto it = families_.find(name);
    if (it == families_.end()) {
      families_.emplace(name, family);
      continue;
    }
    if (it->second.bounds.empty()) it->second.bounds = family.bounds;
    for (const auto& [labels, sample] : family.samples) {
      Sample& into = it->second.samples[labels];
      into.value += sample.value;
      if (into.buckets.empty()) into.buckets.assign(sample.buckets.size(), 0);
      for (size_t i = 0; i < into.buckets.size() && i < sample.buckets.size(); ++i) {
        into.buckets[i] += sample.buckets[i];
      }
      into.sum += sample.sum;
      into.count += sample.count;
    }
  }
}

std::string MetricSet::Render() const {
  std::string out;
  out.reserve(families_.size() * 256);
  for (const auto& [name, family] : families_) {
    out.append("# HELP ").append(name).push_back(' ');
    AppendHelp(out, family.help);
    out.append("\n# TYPE ").append(name);
    out.append(family.type == Type::kCounter ? " counter\n"
               : family.type == Type::kGauge ? " gauge\n"
                                             : " histogram\n");
    for (const auto& [labels, sample] : family.samples) {
      if (family.type != Type::kHistogram) {
        AppendSample(out, name, "", labels, "", sample.value);
        continue;
      }
      uint64_t cumulative = 0;
      for (size_t i = 0; i < sample.buckets.size(); ++i) {
        cumulative += sample.buckets[i];
        std::string le = "le=\"";
        if (i < family.bounds.size()) {
          AppendNumber(le, family.bounds[i]);
        } else {
          le.append("+Inf");
        }
        le.push_back('"');
        AppendSample(out, name, "_bucket", labels, le, double(cumulative));
      }
      AppendSample(out, name, "_sum", labels, "", sample.sum);
      AppendSample(out, name, "_count", labels, "", double(sample.count));
    }
  }
  return out;
}

}  // namespace ringcast
