#include "storage/unique_function.h"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>

namespace ringcast::storage {
namespace {

// Counts live instances so the tests can see every capture destroyed exactly once.
struct Tracked {
  explicit Tracked(int* live) : live(live) { ++*live; }
  Tracked(Tracked&& other) noexcept : live(other.live) { ++*live; }
  Tracked(const Tracked&) = delete;
  ~Tracked() { --*live; }
  int* live;
};

TEST(UniqueFunction, HoldsMoveOnlyCapturesInline) {
  auto value = std::make_unique<int>(41);
  UniqueFunction<int(int)> f = [v = std::move(value)](int x) { return *v + x; };
  ASSERT_TRUE(f);
  EXPECT_EQ(f(1), 42);
  UniqueFunction<int(int)> g = std::move(f);
  EXPECT_FALSE(f);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract.
  EXPECT_EQ(g(2), 43);
}

TEST(UniqueFunction, LargeCapturesGoToTheHeapAndMoveByPointer) {
  std::array<char, 200> big{};
  big[199] = 'z';
  UniqueFunction<char()> f = [big] { return big[199]; };
  UniqueFunction<char()> g;
  g = std::move(f);
  EXPECT_EQ(g(), 'z');
}

TEST(UniqueFunction, DestroysEachCaptureExactlyOnce) {
  int live = 0;
  {
    UniqueFunction<void()> a = [t = Tracked(&live)] {};
    EXPECT_EQ(live, 1);
    UniqueFunction<void()> b = std::move(a);
    EXPECT_EQ(live, 1);
    std::array<char, 100> pad{};
    UniqueFunction<void()> c = [t = Tracked(&live), pad] { (void)pad; };
    EXPECT_EQ(live, 2);
    b = std::move(c);  // b's old capture dies, c's moves in.
    EXPECT_EQ(live, 1);
    b = nullptr;
    EXPECT_EQ(live, 0);
  }
  EXPECT_EQ(live, 0);
}

TEST(UniqueFunction, ForwardsArgumentsAndReturnsValues) {
  UniqueFunction<std::string(std::string&&, const std::string&)> f =
      [](std::string&& a, const std::string& b) { return std::move(a) + b; };
  std::string left = "ab";
  EXPECT_EQ(f(std::move(left), "cd"), "abcd");
  UniqueFunction<void(std::unique_ptr<int>)> sink = [](std::unique_ptr<int> p) {
    EXPECT_EQ(*p, 3);
  };
  sink(std::make_unique<int>(3));
}

}  // namespace
}  // namespace ringcast::storage
