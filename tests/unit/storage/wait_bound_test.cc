#include "storage/wait_bound.h"

#include <gtest/gtest.h>

#include <chrono>

namespace ringcast::storage {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr steady_clock::duration kFresh{};

TEST(WaitBoundTest, AQueueShorterThanABatchIsNeverRefused) {
  WaitBound bound(milliseconds(100), 256);
  bound.NoteBacklog(10, 1.0);  // 10 jobs/s: 255 ahead would be 25 s.
  EXPECT_TRUE(bound.Admit(0, kFresh));
  EXPECT_TRUE(bound.Admit(255, std::chrono::seconds(60)));
  EXPECT_EQ(bound.refused(), 0u);
  EXPECT_FALSE(bound.Admit(256, kFresh));
  EXPECT_EQ(bound.refused(), 1u);
}

// Cycles of one job each, alternately 10 µs and 1 ms: 2 jobs per 1.01 ms, about 1,980/s. An
// average of the cycles' rates would say about 50,000/s.
TEST(WaitBoundTest, TheRateIsJobsOverTimeNotAnAverageOfRates) {
  WaitBound bound(milliseconds(1000), 1);
  for (int i = 0; i < 500; ++i) bound.NoteBacklog(1, i % 2 ? 0.001 : 0.00001);
  EXPECT_NEAR(bound.rate(), 1980, 40);
}

TEST(WaitBoundTest, BeforeAnyBacklogOnlyTheOldestWaitRefuses) {
  WaitBound bound(milliseconds(1000), 256);
  EXPECT_EQ(bound.rate(), 0);
  EXPECT_EQ(bound.EstimateSeconds(1000000), 0);
  EXPECT_TRUE(bound.Admit(1000000, milliseconds(999)));
  EXPECT_FALSE(bound.Admit(1000, milliseconds(1001)));
  EXPECT_EQ(bound.refused(), 1u);
}

TEST(WaitBoundTest, TheEstimateIsTheQueueAheadAtTheBackloggedRate) {
  WaitBound bound(milliseconds(1000), 256);
  bound.NoteBacklog(256, 0.01);  // 25,600 jobs/s.
  EXPECT_DOUBLE_EQ(bound.rate(), 25600);
  EXPECT_DOUBLE_EQ(bound.EstimateSeconds(12800), 0.5);
  // A burst of up to the limit's worth of the store's work (less the headroom for the
  // writer's speed scattering) is absorbed; beyond it, refused.
  EXPECT_TRUE(bound.Admit(19200, kFresh));
  EXPECT_FALSE(bound.Admit(19201, kFresh));
  // Late, whatever the estimate says (the writer stalled since its rate was measured).
  EXPECT_FALSE(bound.Admit(300, milliseconds(1500)));
  EXPECT_EQ(bound.refused(), 2u);
}

// The rate looks back as far as the limit (here the shortest, 0.1 s).
TEST(WaitBoundTest, TheRateFollowsTheWorkerWithinHalfASecond) {
  WaitBound bound(milliseconds(100), 1);
  for (int i = 0; i < 50; ++i) bound.NoteBacklog(100, 0.01);  // 10,000/s.
  EXPECT_NEAR(bound.rate(), 10000, 1);
  // A short slow cycle weighs by its duration: it moves the rate a little.
  bound.NoteBacklog(10, 0.01);
  EXPECT_GT(bound.rate(), 8000);
  EXPECT_LT(bound.rate(), 10000);
  // The disk slows down to 1,000/s: within half a second of work the rate says so.
  for (int i = 0; i < 5; ++i) bound.NoteBacklog(100, 0.1);
  EXPECT_LT(bound.rate(), 1100);
  EXPECT_GT(bound.rate(), 1000);
  // Samples without work (no jobs, or no time) change nothing.
  const double rate = bound.rate();
  bound.NoteBacklog(0, 0.1);
  bound.NoteBacklog(100, 0);
  EXPECT_EQ(bound.rate(), rate);
}

// The rate remembers about as long as the limit: a write admitted now waits up to that long,
// so a fifth of a second of a slow writer after a second of a fast one moves a 0.1 s bound's
// rate most of the way, and a 2 s bound's little.
TEST(WaitBoundTest, TheRateRemembersAsLongAsTheLimit) {
  WaitBound short_memory(milliseconds(100), 1), long_memory(milliseconds(2000), 1);
  for (WaitBound* bound : {&short_memory, &long_memory}) {
    for (int i = 0; i < 100; ++i) bound->NoteBacklog(100, 0.01);  // 10,000/s for 1 s.
    for (int i = 0; i < 2; ++i) bound->NoteBacklog(100, 0.1);     // 1,000/s for 0.2 s.
  }
  EXPECT_LT(short_memory.rate(), 2500);
  EXPECT_GT(long_memory.rate(), 7000);
}

TEST(WaitBoundTest, ALimitOfZeroNeverRefuses) {
  WaitBound bound(milliseconds(0), 0);
  bound.NoteBacklog(1, 10.0);
  EXPECT_TRUE(bound.Admit(1u << 30, std::chrono::hours(1)));
  EXPECT_EQ(bound.refused(), 0u);
}

}  // namespace
}  // namespace ringcast::storage
