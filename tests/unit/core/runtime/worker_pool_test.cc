#include "core/runtime/worker_pool.h"

#include <gtest/gtest.h>
#include <liburing.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/runtime/shard_set.h"

namespace ringcast {
namespace {

// Registrations on one worker, 64 pending; every other class unbounded.
WorkBudgets Budgets(WorkBudget registration = {.max_running = 1, .max_pending = 64}) {
  WorkBudgets budgets;
  budgets[size_t(WorkClass::kRegistration)] = registration;
  return budgets;
}

// The test thread plays shard 0: it owns a ring the workers ring with MSG_RING, and drains its
// inbox into mail.run like Shard::DrainMail does.
class WorkerPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.threads = 1;
    config_.workers = 2;
    ASSERT_EQ(io_uring_queue_init(8, &ring_, 0), 0);
  }
  void TearDown() override { io_uring_queue_exit(&ring_); }

  // Waits for a doorbell (bounded), then runs everything queued for shard 0.
  int WaitAndDrain(MailboxMatrix& mailboxes, Shard& shard) {
    __kernel_timespec timeout{5, 0};
    io_uring_cqe* cqe = nullptr;
    if (io_uring_wait_cqe_timeout(&ring_, &cqe, &timeout) == 0) {
      EXPECT_EQ(cqe->user_data, Shard::WakeupTag());
      io_uring_cqe_seen(&ring_, cqe);
    }
    mailboxes.Doorbell(0).store(false);
    return static_cast<int>(
        mailboxes.Inbox(0).Drain([&shard](Mail& mail) { mail.run(shard, mail); }));
  }

  Config config_;
  io_uring ring_{};
};

TEST_F(WorkerPoolTest, ResultsComeBackToTheOriginShardThread) {
  ShardSet set(config_, nullptr);  // Only for a Shard object to hand to completions.
  MailboxMatrix mailboxes(1, 64, 64);
  ExternalMail mail(mailboxes, {ring_.ring_fd});
  WorkerPool pool(mail, 2, Budgets());
  const auto test_thread = std::this_thread::get_id();
  constexpr int kTasks = 200;
  std::atomic<int> ran_off_thread{0};
  int completed = 0;
  long sum = 0;
  for (int i = 0; i < kTasks; ++i) {
    (void)pool.TryRun(
        WorkClass::kLogin, 0,
        [i, test_thread, &ran_off_thread] {
          if (std::this_thread::get_id() != test_thread) ran_off_thread++;
          return i * 2;
        },
        [&, test_thread](Shard& shard, int result) {
          EXPECT_EQ(std::this_thread::get_id(), test_thread);
          EXPECT_EQ(&shard, &set.shard(0));
          sum += result;
          ++completed;
        });
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (completed < kTasks && std::chrono::steady_clock::now() < deadline) {
    WaitAndDrain(mailboxes, set.shard(0));
  }
  EXPECT_EQ(completed, kTasks);
  EXPECT_EQ(ran_off_thread.load(), kTasks);
  EXPECT_EQ(sum, long{kTasks} * (kTasks - 1));
}

TEST_F(WorkerPoolTest, StopDropsQueuedTasksAndRejectsNewOnes) {
  ShardSet set(config_, nullptr);
  MailboxMatrix mailboxes(1, 64, 64);
  ExternalMail mail(mailboxes, {ring_.ring_fd});
  WorkerPool pool(mail, 2, Budgets());
  pool.Stop();
  bool ran = false;
  (void)pool.TryRun(
      WorkClass::kLogin, 0, [&ran] { return ran = true; }, [](Shard&, bool) {});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(ran);
  pool.Stop();  // Idempotent.
}

TEST_F(WorkerPoolTest, RegistrationsKeepToTheirBudget) {
  // Two workers, registrations on at most one at once and four pending at most: a login
  // submitted behind a queue of registrations runs on the other worker at once
  // (issue 29: registrations saturated the workers and logins waited seconds behind them).
  ShardSet set(config_, nullptr);
  MailboxMatrix mailboxes(1, 64, 64);
  ExternalMail mail(mailboxes, {ring_.ring_fd});
  WorkerPool pool(mail, 2, Budgets({.max_running = 1, .max_pending = 4}));
  std::atomic<bool> release{false};
  std::atomic<int> running{0}, most_running{0};
  auto registration = [&] {
    int now = ++running;
    for (int seen = most_running; now > seen && !most_running.compare_exchange_weak(seen, now);) {
    }
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    --running;
    return 1;
  };
  int completed = 0;
  auto count = [&completed](Shard&, int) { ++completed; };
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(pool.TryRun(WorkClass::kRegistration, 0, registration, count)) << i;
  }
  // The budget's max_pending counts queued and running tasks: the fifth is refused.
  EXPECT_FALSE(pool.TryRun(WorkClass::kRegistration, 0, registration, count));
  std::atomic<bool> login_ran{false};
  EXPECT_TRUE(pool.TryRun(
      WorkClass::kLogin, 0, [&login_ran] { return int(login_ran = true); }, count));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!login_ran && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(login_ran) << "a login waited behind registrations";
  release = true;
  while (completed < 5 && std::chrono::steady_clock::now() < deadline) {
    WaitAndDrain(mailboxes, set.shard(0));
  }
  EXPECT_EQ(completed, 5);
  EXPECT_EQ(most_running.load(), 1);
  // Room again once they have run.
  EXPECT_TRUE(pool.TryRun(
      WorkClass::kRegistration, 0, [] { return 0; }, count));
  // Its answer taken too: mail left in the inbox at the end is never freed (LeakSanitizer
  // found it about 1 run in 6).
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (completed < 6 && std::chrono::steady_clock::now() < deadline) {
    WaitAndDrain(mailboxes, set.shard(0));
  }
  EXPECT_EQ(completed, 6);
}

TEST_F(WorkerPoolTest, AnyNumberOfThreadsPostInTheirOwnOrder) {
  // ExternalMail on its own: more threads than any fixed table would have held post through a
  // small inbox (so they also wait for room), and per thread the order is kept.
  ShardSet set(config_, nullptr);
  MailboxMatrix mailboxes(1, 64, 16);
  ExternalMail mail(mailboxes, {ring_.ring_fd});
  constexpr uint64_t kThreads = 24;
  struct Seen {
    std::vector<uint64_t> last = std::vector<uint64_t>(kThreads, 0);
    int count = 0;
    bool ordered = true;
  } seen;
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&mail, &seen, t] {
      for (uint64_t i = 1; i <= 300; ++i) {
        PushResult result = mail.Post(0, Mail{[](Shard&, const Mail& m) {
                                                auto* s = static_cast<Seen*>(m.ptr);
                                                s->ordered &= m.b == s->last[m.a] + 1;
                                                s->last[m.a] = m.b;
                                                ++s->count;
                                              },
                                              &seen, t, i});
        EXPECT_EQ(result, PushResult::kQueued);
      }
    });
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (seen.count < int(kThreads) * 300 && std::chrono::steady_clock::now() < deadline) {
    WaitAndDrain(mailboxes, set.shard(0));
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(seen.count, int(kThreads) * 300);
  EXPECT_TRUE(seen.ordered);
}

TEST_F(WorkerPoolTest, AFullInboxNeverBlocksAForeignThreadAndMustArriveMailStillArrives) {
  // The shard (this thread) does not drain while another thread posts five times its inbox:
  // every post returns at once; may-fail mail is refused past the overflow's bound, mail that
  // must arrive never is, and all of it runs, in order, once the shard drains.
  ShardSet set(config_, nullptr);
  constexpr size_t kInbox = 8;
  MailboxMatrix mailboxes(1, 64, kInbox);
  ExternalMail mail(mailboxes, {ring_.ring_fd});
  struct Seen {
    std::vector<uint64_t> order;
  } seen;
  auto record = [](Shard&, const Mail& m) { static_cast<Seen*>(m.ptr)->order.push_back(m.a); };
  std::atomic<bool> posted{false};
  std::vector<PushResult> may_fail;
  std::thread poster([&] {
    for (uint64_t i = 0; i < 5 * kInbox; ++i) {
      EXPECT_EQ(mail.Post(0, Mail{record, &seen, i}), PushResult::kQueued);
    }
    for (uint64_t i = 0; i < 3 * kInbox; ++i) {
      may_fail.push_back(
          mail.Post(0, Mail{record, &seen, 1000 + i}, ExternalMail::Delivery::kMayFail));
    }
    posted = true;
  });
  // Bounded wait for the poster, which nothing drains for (not a timing assertion).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!posted && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(posted.load()) << "a foreign thread blocked on a full shard inbox";
  poster.join();
  // What the ring had no room for waits in the overflow, nothing in a blocked producer.
  EXPECT_EQ(mailboxes.Inbox(0).overflowed(), 5 * kInbox - mailboxes.Inbox(0).capacity());
  for (PushResult result : may_fail) EXPECT_EQ(result, PushResult::kFull);
  while (seen.order.size() < 5 * kInbox && std::chrono::steady_clock::now() < deadline) {
    WaitAndDrain(mailboxes, set.shard(0));
  }
  std::vector<uint64_t> expected;
  for (uint64_t i = 0; i < 5 * kInbox; ++i) expected.push_back(i);
  EXPECT_EQ(seen.order, expected);
  // Drained: may-fail mail fits again.
  EXPECT_EQ(mail.Post(0, Mail{record, &seen, 7}, ExternalMail::Delivery::kMayFail),
            PushResult::kQueued);
  WaitAndDrain(mailboxes, set.shard(0));
  EXPECT_EQ(seen.order.back(), 7u);
}

}  // namespace
}  // namespace ringcast
