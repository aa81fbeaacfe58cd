#include "tools/bench/histogram.h"

#include <algorithm>
#include <cmath>

namespace ringcast::bench {

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

uint64_t Histogram::BucketLow(size_t index) {
  if (index < 2 * kSubBuckets) return index;
  const size_t shift = index / kSubBuckets - 1;
  const uint64_t sub = index % kSubBuckets + kSubBuckets;
  return sub << shift;
}

uint64_t Histogram::BucketHigh(size_t index) {
  if (index < 2 * kSubBuckets) return index;
  const size_t shift = index / kSubBuckets - 1;
  return BucketLow(index) + ((uint64_t{1} << shift) - 1);
}

uint64_t Histogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 100.0);
  // Nearest rank, 1-based: ceil(q/100 * n), at least 1. The small epsilon keeps e.g.
  // 99.9% of 1000 at rank 999 despite 0.999 * 1000 being 999.0000000000001 in binary.
  auto rank = static_cast<uint64_t>(std::ceil(q / 100.0 * static_cast<double>(count_) - 1e-9));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(BucketHigh(i), max_);
  }
  return max_;
}

}  // namespace ringcast::bench
