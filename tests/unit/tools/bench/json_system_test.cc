// Tests for the report helpers: JSON output and /proc parsing.
#include <gtest/gtest.h>
#include <unistd.h>

#include "tools/bench/json.h"
#include "tools/bench/scenario.h"
#include "tools/bench/system_info.h"

namespace ringcast::bench {
namespace {

TEST(JsonTest, DumpsOrderedObjectsAndEscapes) {
  Json root = Json::Object();
  root.Set("b", 1).Set("a", "x\"y\\z\n\x01").Set("n", Json()).Set("ok", true);
  root.Set("b", uint64_t{18446744073709551615u});  // Replaces in place.
  root.Set("d", 0.5).Set("inf", 1.0 / 0.0);
  Json list = Json::Array();
  list.Push(1).Push(-2);
  root.Set("list", std::move(list));
  EXPECT_EQ(root.Dump(),
            "{\n  \"b\": 18446744073709551615,\n  \"a\": \"x\\\"y\\\\z\\n\\u0001\",\n"
            "  \"n\": null,\n  \"ok\": true,\n  \"d\": 0.5,\n  \"inf\": null,\n"
            "  \"list\": [1, -2]\n}\n");
  ASSERT_NE(root.Find("ok"), nullptr);
  EXPECT_EQ(root.Find("missing"), nullptr);
}

TEST(JsonTest, HistogramCarriesPercentilesAndNonEmptyBuckets) {
  Histogram h;
  for (uint64_t v = 1; v <= 1000; ++v) h.Record(v * 1000);
  const Json j = HistogramToJson(h);
  ASSERT_NE(j.Find("p99_9"), nullptr);
  ASSERT_NE(j.Find("buckets"), nullptr);
  size_t nonempty = 0;
  for (size_t i = 0; i < Histogram::kBucketCount; ++i) nonempty += h.BucketCount(i) > 0;
  EXPECT_EQ(j.Find("buckets")->size(), nonempty);
}

TEST(ProcParseTest, VmRss) {
  uint64_t bytes = 0;
  EXPECT_TRUE(
      ParseVmRssBytes("Name:\tringcast\nVmPeak:\t  9000 kB\nVmRSS:\t    6784 kB\n", &bytes));
  EXPECT_EQ(bytes, 6784u * 1024);
  EXPECT_FALSE(ParseVmRssBytes("Name:\tx\n", &bytes));
}

TEST(ProcParseTest, CpuTicksSurviveOddCommandNames) {
  // Fields 14 and 15 (utime, stime) are 17 and 4; the name holds spaces and a ")".
  const char* stat =
      "1234 (we ird) name) S 1 1234 1234 0 -1 4194304 100 0 0 0 17 4 0 0 20 0 2 0 5 1000 200";
  uint64_t ticks = 0;
  ASSERT_TRUE(ParseCpuTicks(stat, &ticks));
  EXPECT_EQ(ticks, 21u);
  EXPECT_FALSE(ParseCpuTicks("1234 (x) S 1 2", &ticks));
}

TEST(ProcParseTest, SamplesThisProcess) {
  const ProcessSample s = SampleProcess(getpid());
  EXPECT_TRUE(s.ok);
  EXPECT_GT(s.rss_bytes, 0u);
}

TEST(FormatTest, Numbers) {
  EXPECT_EQ(WithCommas(0), "0");
  EXPECT_EQ(WithCommas(999), "999");
  EXPECT_EQ(WithCommas(12345), "12,345");
  EXPECT_EQ(WithCommas(1234567), "1,234,567");
  EXPECT_EQ(Duration(999), "999 ns");
  EXPECT_EQ(Duration(2'500'000), "2.50 ms");
}

TEST(FormatTest, MissingDeliveriesSaySameServerFromAcross) {
  EXPECT_EQ(MissingDeliveries(9000, 8000, 0, 0, 1), "1,000 of 9,000 deliveries missing");
  // Only those crossing servers: the servers are not one cluster.
  const std::string apart = MissingDeliveries(9000, 3000, 6000, 0, 3);
  EXPECT_NE(apart.find("6,000 of 9,000 deliveries missing (0 of 3,000 on the sender's server, "
                       "6,000 of 6,000 on another server)"),
            std::string::npos)
      << apart;
  EXPECT_NE(apart.find("--redis"), std::string::npos) << apart;
  // Some of each: a slow or broken server, not the missing cluster.
  const std::string both = MissingDeliveries(9000, 8000, 6000, 5500, 3);
  EXPECT_NE(both.find("(500 of 3,000 on the sender's server, 500 of 6,000 on another server)"),
            std::string::npos)
      << both;
  EXPECT_EQ(both.find("--redis"), std::string::npos) << both;
}

}  // namespace
}  // namespace ringcast::bench
