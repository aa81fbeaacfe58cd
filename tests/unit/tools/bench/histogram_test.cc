#include "tools/bench/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace ringcast::bench {
namespace {

// Nearest-rank reference over sorted data, the definition Histogram::Percentile documents.
uint64_t ReferencePercentile(const std::vector<uint64_t>& sorted, double q) {
  auto rank = static_cast<size_t>(std::ceil(q / 100.0 * static_cast<double>(sorted.size()) - 1e-9));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void ExpectPercentilesMatch(std::vector<uint64_t> values) {
  Histogram h;
  for (uint64_t v : values) h.Record(v);
  std::sort(values.begin(), values.end());
  ASSERT_EQ(h.count(), values.size());
  EXPECT_EQ(h.min(), values.front());
  EXPECT_EQ(h.max(), values.back());
  for (double q : {0.0, 1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const uint64_t truth = ReferencePercentile(values, q);
    const uint64_t got = h.Percentile(q);
    // Never below the true value, and above it by less than one bucket width (<= truth/128).
    EXPECT_GE(got, truth) << "q=" << q;
    EXPECT_LE(got - truth, truth / Histogram::kSubBuckets) << "q=" << q;
  }
}

TEST(HistogramTest, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.Percentile(50), 0u);
  EXPECT_EQ(h.mean(), 0.0);
}

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  for (uint64_t v = 0; v < 256; ++v) h.Record(v);
  for (uint64_t v = 0; v < 256; ++v) {
    EXPECT_EQ(Histogram::BucketLow(Histogram::BucketIndex(v)), v);
    EXPECT_EQ(Histogram::BucketHigh(Histogram::BucketIndex(v)), v);
  }
  EXPECT_EQ(h.Percentile(50), 127u);
  EXPECT_EQ(h.Percentile(100), 255u);
  EXPECT_DOUBLE_EQ(h.mean(), 127.5);
}

TEST(HistogramTest, BucketErrorBoundOverTheWholeRange) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    const int bits = static_cast<int>(rng() % 64) + 1;
    const uint64_t v = bits == 64 ? rng() : rng() & ((uint64_t{1} << bits) - 1);
    const size_t index = Histogram::BucketIndex(v);
    ASSERT_LT(index, Histogram::kBucketCount);
    const uint64_t low = Histogram::BucketLow(index);
    const uint64_t high = Histogram::BucketHigh(index);
    ASSERT_LE(low, v);
    ASSERT_GE(high, v);
    ASSERT_LE(high - low, low / Histogram::kSubBuckets) << v;
  }
  EXPECT_EQ(Histogram::BucketIndex(UINT64_MAX), Histogram::kBucketCount - 1);
  EXPECT_EQ(Histogram::BucketHigh(Histogram::kBucketCount - 1), UINT64_MAX);
}

TEST(HistogramTest, BucketsTileTheRangeWithoutGaps) {
  for (size_t i = 1; i < Histogram::kBucketCount; ++i) {
    ASSERT_EQ(Histogram::BucketLow(i), Histogram::BucketHigh(i - 1) + 1) << i;
    ASSERT_EQ(Histogram::BucketIndex(Histogram::BucketLow(i)), i);
    ASSERT_EQ(Histogram::BucketIndex(Histogram::BucketHigh(i)), i);
  }
}

TEST(HistogramTest, PercentilesMatchSortedReferenceUniform) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<uint64_t> dist(0, 50'000'000);
  std::vector<uint64_t> values(100000);
  for (uint64_t& v : values) v = dist(rng);
  ExpectPercentilesMatch(values);
}

TEST(HistogramTest, PercentilesMatchSortedReferenceLongTail) {
  // Latency-like: log-normal around 200 us with a tail several decades long.
  std::mt19937_64 rng(2);
  std::lognormal_distribution<double> dist(std::log(200'000.0), 1.5);
  for (size_t n : {1u, 2u, 3u, 999u, 1000u, 12345u}) {
    std::vector<uint64_t> values(n);
    for (uint64_t& v : values) v = static_cast<uint64_t>(dist(rng));
    ExpectPercentilesMatch(values);
  }
}

TEST(HistogramTest, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(3);
  Histogram a;
  Histogram b;
  Histogram all;
  for (int i = 0; i < 50000; ++i) {
    const uint64_t v = rng() % 10'000'000;
    (i % 3 == 0 ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (size_t i = 0; i < Histogram::kBucketCount; ++i) {
    ASSERT_EQ(a.BucketCount(i), all.BucketCount(i));
  }
  for (double q : {50.0, 99.0, 99.9}) EXPECT_EQ(a.Percentile(q), all.Percentile(q));
  Histogram empty;
  a.Merge(empty);
  EXPECT_EQ(a.min(), all.min());
}

TEST(HistogramTest, PercentileIsClampedToMax) {
  Histogram h;
  h.Record(1'000'001);  // Inside a bucket whose upper bound is higher.
  EXPECT_EQ(h.Percentile(99), 1'000'001u);
  EXPECT_EQ(h.Percentile(0), 1'000'001u);
}

}  // namespace
}  // namespace ringcast::bench
