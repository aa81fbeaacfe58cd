#include "core/metrics/metric_set.h"

#include <gtest/gtest.h>

namespace ringcast {
namespace {

// CounterBy is shorthand: the family it renders is the one a Counter call per label value
// renders, help and samples alike.
TEST(MetricSetTest, CounterByRendersAsOneCounterPerLabelValue) {
  MetricSet by;
  by.CounterBy("ringcast_x_total", "Xs, by outcome", "outcome", {{"sent", 3}, {"failed", 1}});
  MetricSet one_by_one;
  one_by_one.Counter("ringcast_x_total", "Xs, by outcome", 3, {{"outcome", "sent"}});
  one_by_one.Counter("ringcast_x_total", "", 1, {{"outcome", "failed"}});
  EXPECT_EQ(by.Render(), one_by_one.Render());
  EXPECT_NE(by.Render().find("ringcast_x_total{outcome=\"failed\"} 1\n"), std::string::npos)
      << by.Render();
}

}  // namespace
}  // namespace ringcast
