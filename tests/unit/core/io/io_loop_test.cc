#include "core/io/io_loop.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "core/runtime/deferred_wakes.h"

namespace ringcast {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<IoLoop> MakeLoop(size_t max_tasks = 16) {
  std::string error;
  auto loop = IoLoop::Create({.thread_name = "io-loop-test", .max_tasks = max_tasks}, &error);
  EXPECT_NE(loop, nullptr) << error;
  return loop;
}

void SetPromise(const IoTask& task) {
  static_cast<std::promise<int>*>(task.ptr)->set_value(int(task.a));
}
void Increment(const IoTask& task) { static_cast<std::atomic<int>*>(task.ptr)->fetch_add(1); }

TEST(IoLoop, APostedTaskRunsOnTheLoopThreadWithoutATimeout) {
  auto loop = MakeLoop();
  std::atomic<std::thread::id> turn_thread{};
  // No deadline: the loop sleeps in poll until the post's wake-up.
  loop->Start({.turn = [&] {
    turn_thread = std::this_thread::get_id();
    return IoLoop::Clock::time_point::max();
  }});
  std::promise<int> ran;
  ASSERT_EQ(loop->Post(IoTask{&SetPromise, &ran, 42}), PushResult::kQueued);
  auto result = ran.get_future();
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(result.get(), 42);
  loop->Stop();
  EXPECT_NE(turn_thread.load(), std::this_thread::get_id());
}

TEST(IoLoop, AFullQueueRefusesAtOnceAndTheTaskStaysWithThePoster) {
  auto loop = MakeLoop(4);  // Not started: nothing drains.
  std::atomic<int> ran{0};
  for (size_t i = 0; i < loop->max_tasks(); ++i) {
    ASSERT_EQ(loop->Post(IoTask{&Increment, &ran}), PushResult::kQueued);
  }
  const auto before = std::chrono::steady_clock::now();
  EXPECT_EQ(loop->Post(IoTask{&Increment, &ran}), PushResult::kFull);
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);
  loop->Start({});
  loop->Stop();  // Runs what was queued before its thread ends.
  EXPECT_EQ(ran.load(), int(loop->max_tasks()));
  EXPECT_EQ(loop->Post(IoTask{&Increment, &ran}), PushResult::kClosed);
}

TEST(IoLoop, AWatchedDescriptorCallsItsHandler) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
  auto loop = MakeLoop();
  std::promise<std::string> got;
  int watch = -1;
  watch = loop->Watch(pair[0], POLLIN, [&](short revents) {
    ASSERT_TRUE(revents & POLLIN);
    char buffer[16];
    ssize_t n = read(pair[0], buffer, sizeof buffer);
    loop->Unwatch(watch);  // Its own watch, from inside its handler.
    got.set_value(std::string(buffer, size_t(std::max<ssize_t>(n, 0))));
  });
  loop->Start({});
  ASSERT_EQ(write(pair[1], "ping", 4), 4);
  auto result = got.get_future();
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(result.get(), "ping");
  loop->Stop();
  close(pair[0]);
  close(pair[1]);
}

TEST(IoLoop, TimersFireInOrderAndACancelledOneNever) {
  auto loop = MakeLoop();
  std::vector<int> fired;
  std::promise<void> done;
  const auto now = IoLoop::Clock::now();
  loop->At(now + 30ms, [&] { fired.push_back(2); });
  const uint64_t cancelled = loop->At(now + 20ms, [&] { fired.push_back(99); });
  loop->At(now + 10ms, [&] { fired.push_back(1); });
  loop->At(now + 60ms, [&] { done.set_value(); });
  loop->Cancel(cancelled);
  loop->Start({});
  ASSERT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
  loop->Stop();
  EXPECT_EQ(fired, (std::vector<int>{1, 2}));
}

TEST(IoLoop, QuitFromATurnEndsTheLoopForJoin) {
  auto loop = MakeLoop();
  int turns = 0;
  loop->Start({.turn = [&] {
    if (++turns == 3) loop->Quit();
    return IoLoop::Clock::now();  // Every turn due at once.
  }});
  loop->Join();
  EXPECT_EQ(turns, 3);
}

TEST(IoLoop, WakeUpsFromAThreadWithDeferredWakesWaitForItsFlush) {
  auto loop = MakeLoop();
  std::atomic<int> ran{0};
  loop->Start({});
  // Asleep in poll by then (a loop that sees queued tasks before it sleeps runs them at once).
  std::this_thread::sleep_for(100ms);
  {
    DeferredWakes wakes;  // As a shard holds one over its loop turn.
    for (int i = 0; i < 3; ++i)
      ASSERT_EQ(loop->Post(IoTask{&Increment, &ran}), PushResult::kQueued);
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(ran.load(), 0);  // Queued, but the loop sleeps: no wake-up given yet.
    wakes.Flush();
  }
  for (int i = 0; i < 500 && ran.load() < 3; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(ran.load(), 3);
  loop->Stop();
}

}  // namespace
}  // namespace ringcast
