#include "tools/bench/rate_steps.h"

#include <gtest/gtest.h>

#include <string>

namespace ringcast::bench {
namespace {

std::string RowValue(const Report& report, const std::string& starts_with) {
  for (const auto& [label, value] : report.rows) {
    if (label.starts_with(starts_with)) return value;
  }
  return "";
}

TEST(RateStepsTest, StopsAtTheFirstRateOverTheLimit) {
  RateStepOptions options{.rates = {100, 200, 300}, .p99_limit_ms = 10};
  RateSteps steps(options, "p99");
  EXPECT_TRUE(steps.StepDone(100, 2'000'000, 50));
  EXPECT_FALSE(steps.StepDone(200, 20'000'000, 50));
  Report report;
  steps.MakeReport(&report);
  EXPECT_EQ(RowValue(report, "highest rate"), "100 msg/s");
  EXPECT_EQ(RowValue(report, "first rate"), "200 msg/s");
}

// A step in which nothing was measured (the server stopped answering) has an empty histogram
// whose p99 reads 0: it must count as a breakdown, not as the best rate so far.
TEST(RateStepsTest, AStepThatMeasuredNothingIsOverTheLimit) {
  RateStepOptions options{.rates = {100, 200}, .p99_limit_ms = 10, .keep_going = true};
  RateSteps steps(options, "p99");
  EXPECT_TRUE(steps.StepDone(100, 2'000'000, 50));
  EXPECT_TRUE(steps.StepDone(200, 0, 0));  // --keep-going: later steps still run.
  Report report;
  steps.MakeReport(&report);
  EXPECT_EQ(RowValue(report, "highest rate"), "100 msg/s");
  EXPECT_EQ(RowValue(report, "first rate"), "200 msg/s");
}

}  // namespace
}  // namespace ringcast::bench
