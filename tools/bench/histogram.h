// Histogram: an HDR-style log-linear histogram of non-negative 64-bit values (nanoseconds here).
//
// Owner: one worker thread records into its own instances; the main thread merges them after the
// workers have stopped (Merge is not thread-safe). Recording is a few instructions and never
// allocates, so it sits in the per-message path.
//
// Layout: values below 2 * kSubBuckets are counted exactly; above that every power of two
// [2^m, 2^(m+1)) is split into kSubBuckets equal buckets, so a bucket is never wider than
// 1/kSubBuckets of its lower bound. With kSubBuckets = 128 a reported percentile is within 0.79%
// of the true one over the whole uint64 range, in 7424 buckets (58 KiB).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace ringcast::bench {

class Histogram {
 public:
  static constexpr int kSubBucketBits = 7;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
  static constexpr size_t kBucketCount = (64 - kSubBucketBits + 1) * kSubBuckets;

  void Record(uint64_t value) { RecordN(value, 1); }
  void RecordN(uint64_t value, uint64_t n) {
    counts_[BucketIndex(value)] += n;
    count_ += n;
    sum_ += static_cast<double>(value) * static_cast<double>(n);
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
  }
  void Merge(const Histogram& other);
  void Reset() { *this = Histogram(); }

  uint64_t count() const { return count_; }
  // 0 when empty.
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_); }

  // Nearest-rank percentile (q in [0, 100]): the smallest recorded value v such that at least
  // q% of the values are <= v, reported as the upper bound of v's bucket (clamped to max()), so
  // the answer is never below the true one and exceeds it by less than one bucket width.
  // 0 when empty.
  uint64_t Percentile(double q) const;

  // Bucket geometry, public for the JSON dump and the tests.
  static size_t BucketIndex(uint64_t value) {
    if (value < 2 * kSubBuckets) return static_cast<size_t>(value);
    const int msb = 63 - __builtin_clzll(value);  // >= kSubBucketBits + 1
    const int shift = msb - kSubBucketBits;
    return static_cast<size_t>(shift + 1) * kSubBuckets + ((value >> shift) - kSubBuckets);
  }
  static uint64_t BucketLow(size_t index);
  // Inclusive upper bound.
  static uint64_t BucketHigh(size_t index);
  uint64_t BucketCount(size_t index) const { return counts_[index]; }

 private:
  std::array<uint64_t, kBucketCount> counts_{};
  uint64_t count_ = 0;
  uint64_t min_ = std::numeric_limits<uint64_t>::max();
  uint64_t max_ = 0;
  double sum_ = 0;
};

}  // namespace ringcast::bench
