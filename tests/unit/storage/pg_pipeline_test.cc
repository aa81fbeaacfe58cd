// PgPipeline against a real PostgreSQL (RINGCAST_TEST_DATABASE_URL, as pg_chat_store_test.cc):
// what --no-db-prepared-statements changes on the wire. Without prepared statements nothing is
// prepared on the session and every unit sets synchronous_commit and enable_seqscan for its own
// transaction, so a pooler in transaction mode may hand the next unit another server connection.
#include "storage/pg_pipeline.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace ringcast::storage {
namespace {

constexpr PgStatement kStatements[] = {
    {"settings",
     "SELECT current_setting('synchronous_commit'), current_setting('enable_seqscan'), "
     "(SELECT count(*) FROM pg_prepared_statements), $1::int + 1"},
    {"sleep", "SELECT pg_sleep($1::float8)"},
};

// Runs "settings" (in a transaction or not) and keeps the first row.
class SettingsJob final : public PgJob {
 public:
  SettingsJob(bool transaction, std::promise<Result<std::vector<std::string>>>* out)
      : transaction_(transaction), out_(out) {}
  void BuildQueries(std::vector<PgQuery>& queries) override {
    queries.push_back(PgQuery{.statement = "settings", .values = {"41"}});
  }
  bool transaction() const override { return transaction_; }
  bool retry_safe() const override { return true; }
  Status Consume(PgResults results) override {
    if (results.size() != 1 || PQntuples(results[0]) != 1) {
      return Status(Errc::kInternal, "expected one row");
    }
    for (int column = 0; column < 4; ++column) {
      row_.emplace_back(PQgetvalue(results[0], 0, column));
    }
    return Status();
  }
  void Finish(Status status) override {
    if (status.ok()) {
      out_->set_value(std::move(row_));
    } else {
      out_->set_value(std::move(status));
    }
  }

 private:
  const bool transaction_;
  std::promise<Result<std::vector<std::string>>>* out_;
  std::vector<std::string> row_;
};

// A write of `seconds` on a writer lane; counts its outcome.
class SleepJob final : public PgJob {
 public:
  SleepJob(std::string seconds, std::atomic<int>* ok, std::atomic<int>* failed)
      : seconds_(std::move(seconds)), ok_(ok), failed_(failed) {}
  void BuildQueries(std::vector<PgQuery>& queries) override {
    queries.push_back(PgQuery{.statement = "sleep", .values = {seconds_}});
  }
  bool retry_safe() const override { return true; }
  Status Consume(PgResults) override { return Status(); }
  void Finish(Status status) override { (status.ok() ? ok_ : failed_)->fetch_add(1); }

 private:
  const std::string seconds_;
  std::atomic<int>* ok_;
  std::atomic<int>* failed_;
};

class PgPipelineTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    const char* url = std::getenv("RINGCAST_TEST_DATABASE_URL");
    ASSERT_NE(url, nullptr) << "RINGCAST_TEST_DATABASE_URL is not set: run these tests through "
                               "`tools/pgtmp run -- …` (ctest's unit_pg does)";
    PgPipelineOptions options{.conninfo = url,
                              .writers = 1,
                              .readers = 1,
                              .synchronous_commit = "off",
                              .prepared_statements = GetParam()};
    auto started = PgPipeline::Start(std::move(options), kStatements);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    pipeline_ = std::move(*started);
  }
  void TearDown() override {
    if (pipeline_) pipeline_->Stop(std::chrono::seconds(5));
  }
  std::vector<std::string> Settings(uint32_t lane, bool transaction) {
    std::promise<Result<std::vector<std::string>>> promise;
    auto future = promise.get_future();
    pipeline_->Submit(lane, std::make_unique<SettingsJob>(transaction, &promise));
    EXPECT_EQ(future.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    Result<std::vector<std::string>> row = future.get();
    EXPECT_TRUE(row.ok()) << row.status().ToString();
    return row.ok() ? *row : std::vector<std::string>{};
  }

  std::unique_ptr<PgPipeline> pipeline_;
};

TEST_P(PgPipelineTest, EveryUnitRunsWithTheStoresSettings) {
  const bool prepared = GetParam();
  // Parameters keep their binary/text form either way ($1 as text here).
  const std::vector<std::string> expected = {
      "off", "off", prepared ? std::to_string(std::size(kStatements)) : "0", "42"};
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(Settings(0, /*transaction=*/false), expected);
    EXPECT_EQ(Settings(0, /*transaction=*/true), expected);
    EXPECT_EQ(Settings(PgPipeline::kReaders, /*transaction=*/false), expected);
  }
}

// --max-store-wait-ms on a writer lane: once the lane's backlogged rate is known (50 ms a
// write here), writes are admitted while the lane holds less than the limit's worth (500 ms,
// less the headroom: about 8) and refused at once past it; what was admitted still runs.
TEST(PgPipelineWaitTest, AWriterLaneRefusesWritesPastTheLimitsWorth) {
  const char* url = std::getenv("RINGCAST_TEST_DATABASE_URL");
  ASSERT_NE(url, nullptr);
  PgPipelineOptions options{
      .conninfo = url, .writers = 1, .readers = 1, .batch_max = 1, .max_wait_ms = 500};
  auto started = PgPipeline::Start(std::move(options), kStatements);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  std::unique_ptr<PgPipeline> pipeline = std::move(*started);
  std::atomic<int> ok{0}, failed{0};
  auto drain = [&](int total) {
    for (int i = 0; i < 400 && ok + failed < total; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  };
  // Unknown rate: a backlog of 8 is admitted whole, and measures the lane.
  for (int i = 0; i < 8; ++i) pipeline->Submit(0, std::make_unique<SleepJob>("0.05", &ok, &failed));
  drain(8);
  ASSERT_EQ(ok, 8);
  const PgPipelineStats measured = pipeline->stats();
  EXPECT_GT(measured.write_rate, 5);
  EXPECT_LT(measured.write_rate, 25);
  // Now 40 more, a few ms apart so that the loop publishes the lane's depth between them.
  for (int i = 0; i < 40; ++i) {
    pipeline->Submit(0, std::make_unique<SleepJob>("0.05", &ok, &failed));
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  const PgPipelineStats stats = pipeline->stats();
  drain(48);
  pipeline->Stop(std::chrono::seconds(5));
  EXPECT_GE(stats.refused_wait, 15u);
  EXPECT_EQ(int(stats.refused_wait) + ok, 48);
  EXPECT_EQ(failed, int(stats.refused_wait));  // Each refusal finished its job at once.
}

INSTANTIATE_TEST_SUITE_P(PreparedOrNot, PgPipelineTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Prepared" : "Unprepared";
                         });

}  // namespace
}  // namespace ringcast::storage
