#include "tools/bench/bookkeeping.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>
#include <vector>

namespace ringcast::bench {
namespace {

TEST(EchoTrackerTest, RepliesMustComeBackInOrderAndComplete) {
  EchoTracker t;
  std::vector<std::vector<uint8_t>> sent;
  for (int i = 0; i < 4; ++i) {
    sent.emplace_back(32);
    t.WriteNext(sent.back().data(), 32, 1000 + i);
  }
  EXPECT_EQ(t.in_flight(), 4u);
  int64_t sent_ns = 0;
  EXPECT_EQ(t.OnReply(sent[0], 32, &sent_ns), EchoTracker::Check::kOk);
  EXPECT_EQ(sent_ns, 1000);
  // Skipping one (a loss or reordering) is caught, and not counted.
  EXPECT_EQ(t.OnReply(sent[2], 32, &sent_ns), EchoTracker::Check::kWrongSequence);
  EXPECT_EQ(t.OnReply(std::span(sent[1]).first(31), 32, &sent_ns), EchoTracker::Check::kWrongSize);
  EXPECT_EQ(t.OnReply(sent[1], 32, &sent_ns), EchoTracker::Check::kOk);
  EXPECT_EQ(t.OnReply(sent[2], 32, &sent_ns), EchoTracker::Check::kOk);
  EXPECT_EQ(t.OnReply(sent[3], 32, &sent_ns), EchoTracker::Check::kOk);
  EXPECT_EQ(t.in_flight(), 0u);
  EXPECT_EQ(t.OnReply(sent[3], 32, &sent_ns), EchoTracker::Check::kUnexpected);
  EXPECT_EQ(t.sent(), 4u);
  EXPECT_EQ(t.received(), 4u);
}

TEST(EchoTrackerTest, SmallMessagesAreCheckedBySizeOnly) {
  EchoTracker t;
  uint8_t buf[4];
  t.WriteNext(buf, 4, 5);
  int64_t sent_ns = -1;
  EXPECT_EQ(t.OnReply(std::span<const uint8_t>(buf, 4), 4, &sent_ns), EchoTracker::Check::kOk);
  EXPECT_EQ(sent_ns, 0);
}

TEST(IterationBarrierTest, ExactlyOneDeliverCompletes) {
  IterationBarrier b;
  b.Begin(1, 10, 100);
  EXPECT_EQ(b.iteration(), 1u);
  EXPECT_EQ(b.started_ns(), 100);
  EXPECT_EQ(b.Deliver(0), IterationBarrier::Result::kPending);
  EXPECT_EQ(b.Deliver(4), IterationBarrier::Result::kPending);
  EXPECT_EQ(b.Deliver(6), IterationBarrier::Result::kCompleted);
  b.Begin(2, 3, 200);
  EXPECT_EQ(b.Deliver(4), IterationBarrier::Result::kTooMany);
}

TEST(IterationBarrierTest, ThreadsRunIterationsInLockstep) {
  // Four "workers" each deliver their share of every iteration; whoever completes one starts
  // the next. Every iteration must complete exactly once, and nobody may run ahead.
  constexpr int kThreads = 4;
  constexpr uint64_t kShare = 1000;
  constexpr uint64_t kIterations = 300;
  IterationBarrier b;
  std::atomic<uint64_t> completions{0};
  std::atomic<bool> bad{false};
  b.Begin(1, kShare * kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      uint64_t local = 0;
      while (local < kIterations) {
        const uint64_t current = b.iteration();
        if (current == local) continue;  // Wait for the next iteration to start.
        if (current != local + 1) bad = true;
        local = current;
        for (uint64_t i = 0; i < kShare; i += 10) {
          if (b.Deliver(10) == IterationBarrier::Result::kCompleted) {
            completions.fetch_add(1);
            if (local < kIterations) b.Begin(local + 1, kShare * kThreads, 0);
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(bad);
  EXPECT_EQ(completions.load(), kIterations);
}

TEST(BroadcastCheckTest, CountsEachIterationSeparately) {
  BroadcastClient c;
  EXPECT_EQ(CountBroadcast(&c, 1, 1, 3), BroadcastCheck::kOk);
  EXPECT_EQ(CountBroadcast(&c, 1, 1, 3), BroadcastCheck::kOk);
  EXPECT_EQ(CountBroadcast(&c, 1, 1, 3), BroadcastCheck::kOk);
  EXPECT_EQ(CountBroadcast(&c, 1, 1, 3), BroadcastCheck::kTooMany);
  EXPECT_EQ(CountBroadcast(&c, 2, 1, 3), BroadcastCheck::kFutureIteration);
  EXPECT_EQ(CountBroadcast(&c, 1, 2, 3), BroadcastCheck::kStaleIteration);
  EXPECT_EQ(CountBroadcast(&c, 2, 2, 3), BroadcastCheck::kOk);  // Counts restart.
  EXPECT_EQ(c.received, 1u);
}

TEST(FanoutPayloadTest, RoundTrips) {
  FanoutMessage m;
  m.intended_ns = 1234567890123;
  m.sequence = 99;
  m.publisher = 7;
  m.step = 3;
  m.flags = kFanoutMeasured;
  std::vector<uint8_t> buf(40);
  WriteFanout(buf.data(), buf.size(), m);
  const FanoutMessage r = ReadFanout(buf.data());
  EXPECT_EQ(r.intended_ns, m.intended_ns);
  EXPECT_EQ(r.sequence, m.sequence);
  EXPECT_EQ(r.publisher, m.publisher);
  EXPECT_EQ(r.step, m.step);
  EXPECT_EQ(r.flags, m.flags);
  EXPECT_EQ(buf.back(), 'f');
}

TEST(FanoutServerTest, EveryChannelsSubscribersSpreadOverEveryServer) {
  // Channel and server counts that share a factor are the case plain index % servers gets
  // wrong (10 channels on 2 servers); 3 servers is the bench suite's cluster.
  for (const auto& [channels, servers] : {std::pair{10u, 2u}, {10u, 3u}, {100u, 3u}, {4u, 4u}}) {
    const uint32_t subscribers = 10000;
    std::vector<std::vector<uint32_t>> per(channels, std::vector<uint32_t>(servers, 0));
    std::vector<uint32_t> totals(servers, 0);
    for (uint32_t c = 0; c < subscribers; ++c) {
      const uint32_t server = FanoutServer(c, channels, servers);
      ASSERT_LT(server, servers);
      ++per[c % channels][server];
      ++totals[server];
    }
    for (uint32_t ch = 0; ch < channels; ++ch) {
      const auto [lo, hi] = std::minmax_element(per[ch].begin(), per[ch].end());
      EXPECT_LE(*hi - *lo, 1u) << channels << " channels, " << servers << " servers, channel "
                               << ch;
    }
    const auto [lo, hi] = std::minmax_element(totals.begin(), totals.end());
    EXPECT_LE(*hi - *lo, channels) << channels << " channels, " << servers << " servers";
  }
  // One publisher per channel: the publishers go round-robin too.
  EXPECT_EQ(FanoutServer(0, 10, 3), 0u);
  EXPECT_EQ(FanoutServer(1, 10, 3), 1u);
  EXPECT_EQ(FanoutServer(2, 10, 3), 2u);
  EXPECT_EQ(FanoutServer(3, 10, 3), 0u);
  EXPECT_EQ(FanoutServer(7, 10, 1), 0u);
}

TEST(OpenLoopScheduleTest, IntendedTimesIgnoreWhatWasSent) {
  const OpenLoopSchedule s(1'000'000'000, 1000.0, 3);  // 1 ms apart, 3 publishers.
  EXPECT_EQ(s.IntendedNs(0), 1'000'000'000);
  EXPECT_EQ(s.IntendedNs(5), 1'005'000'000);
  EXPECT_EQ(s.DueBy(999'999'999), 0u);
  EXPECT_EQ(s.DueBy(1'000'000'000), 1u);
  EXPECT_EQ(s.DueBy(1'004'999'999), 5u);
  EXPECT_EQ(s.DueBy(1'005'000'000), 6u);
  // A sender that stalled for 100 ms owes 100 messages, all stamped with their own times.
  EXPECT_EQ(s.DueBy(1'100'000'000), 101u);
}

TEST(OpenLoopScheduleTest, PublishersSplitTheIndexesRoundRobin) {
  const OpenLoopSchedule s(0, 3333.3, 4);
  EXPECT_EQ(s.FirstFor(0), 0u);
  EXPECT_EQ(s.FirstFor(3), 3u);
  EXPECT_EQ(s.FirstFor(1, 6), 9u);
  EXPECT_EQ(s.FirstFor(2, 6), 6u);
  EXPECT_EQ(s.FirstFor(3, 6), 7u);
  // Every index below the horizon is owned by exactly one publisher.
  std::vector<int> owners(1000, 0);
  for (uint32_t p = 0; p < 4; ++p) {
    for (uint64_t k = s.FirstFor(p); k < owners.size(); k += 4) ++owners[k];
  }
  for (int n : owners) ASSERT_EQ(n, 1);
  // DueBy agrees with IntendedNs at a non-integral period.
  for (uint64_t k = 1; k < 2000; ++k) {
    ASSERT_EQ(s.DueBy(s.IntendedNs(k)), k + 1) << k;
    ASSERT_EQ(s.DueBy(s.IntendedNs(k) - 1), k) << k;
  }
}

TEST(SequenceTrackerTest, FlagsGapsAndDuplicatesPerPublisher) {
  SequenceTracker t;
  t.Reset(3, 2);
  EXPECT_EQ(t.Observe(0, 0, 0), SequenceTracker::Check::kOk);
  EXPECT_EQ(t.Observe(0, 1, 0), SequenceTracker::Check::kOk);  // Slots are independent.
  EXPECT_EQ(t.Observe(0, 0, 1), SequenceTracker::Check::kOk);
  EXPECT_EQ(t.Observe(0, 0, 3), SequenceTracker::Check::kGap);
  EXPECT_EQ(t.Observe(0, 0, 4), SequenceTracker::Check::kOk);  // Resynchronised after the gap.
  EXPECT_EQ(t.Observe(0, 0, 4), SequenceTracker::Check::kDuplicate);
  EXPECT_EQ(t.Observe(2, 1, 0), SequenceTracker::Check::kOk);
  EXPECT_EQ(t.expected(0, 0), 5u);
  EXPECT_EQ(t.expected(1, 0), 0u);
}

TEST(FirstBreakdownTest, FindsTheFirstStepOverTheLimit) {
  const RateStep steps[] = {
      {100, 1'000'000}, {200, 9'000'000}, {400, 12'000'000}, {800, 5'000'000}};
  EXPECT_EQ(FirstBreakdown(steps, 10'000'000), 2);
  EXPECT_EQ(FirstBreakdown(steps, 20'000'000), -1);
  EXPECT_EQ(FirstBreakdown({}, 1), -1);
}

}  // namespace
}  // namespace ringcast::bench
