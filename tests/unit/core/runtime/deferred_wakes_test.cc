#include "core/runtime/deferred_wakes.h"

#include <gtest/gtest.h>

#include <thread>

namespace ringcast {
namespace {

void Count(void* counter) { ++*static_cast<int*>(counter); }

TEST(DeferredWakes, WithoutOneAWakeUpIsGivenAtOnce) {
  int woken = 0;
  DeferredWakes::WakeSoon(&Count, &woken);
  EXPECT_EQ(woken, 1);
}

TEST(DeferredWakes, EachTargetIsWokenOncePerFlush) {
  int first = 0, second = 0;
  DeferredWakes wakes;
  for (int i = 0; i < 5; ++i) DeferredWakes::WakeSoon(&Count, &first);
  DeferredWakes::WakeSoon(&Count, &second);
  EXPECT_EQ(first, 0);
  EXPECT_EQ(second, 0);
  wakes.Flush();
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
  wakes.Flush();  // Nothing asked since.
  EXPECT_EQ(first, 1);
  DeferredWakes::WakeSoon(&Count, &first);
  wakes.Flush();
  EXPECT_EQ(first, 2);
}

TEST(DeferredWakes, TheDestructorGivesWhatIsLeftAndEndsTheDeferral) {
  int woken = 0;
  {
    DeferredWakes wakes;
    DeferredWakes::WakeSoon(&Count, &woken);
    EXPECT_EQ(woken, 0);
  }
  EXPECT_EQ(woken, 1);
  DeferredWakes::WakeSoon(&Count, &woken);
  EXPECT_EQ(woken, 2);
}

TEST(DeferredWakes, OnlyTheThreadThatHoldsOneDefers) {
  int on_other_thread = 0;
  DeferredWakes wakes;
  std::thread([&] { DeferredWakes::WakeSoon(&Count, &on_other_thread); }).join();
  EXPECT_EQ(on_other_thread, 1);
}

struct Resubmitter {
  int wakes = 0;
};

void WakeAndAskAgain(void* target) {
  auto* resubmitter = static_cast<Resubmitter*>(target);
  if (++resubmitter->wakes == 1) DeferredWakes::WakeSoon(&WakeAndAskAgain, target);
}

TEST(DeferredWakes, AWakeUpAskedForDuringFlushIsGivenByTheNext) {
  Resubmitter resubmitter;
  DeferredWakes wakes;
  DeferredWakes::WakeSoon(&WakeAndAskAgain, &resubmitter);
  wakes.Flush();
  EXPECT_EQ(resubmitter.wakes, 1);
  wakes.Flush();
  EXPECT_EQ(resubmitter.wakes, 2);
  wakes.Flush();
  EXPECT_EQ(resubmitter.wakes, 2);
}

}  // namespace
}  // namespace ringcast
