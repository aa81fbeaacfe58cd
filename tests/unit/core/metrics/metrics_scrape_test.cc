#include "core/metrics/metrics_scrape.h"

#include <gtest/gtest.h>
#include <liburing.h>

#include <chrono>
#include <future>
#include <thread>

#include "core/runtime/external_mail.h"
#include "core/runtime/shard_set.h"

namespace ringcast {
namespace {

using namespace std::chrono_literals;

// A scrape asked from an IoLoop, as the --metrics-port listener asks it. The test thread plays
// the only shard: it owns the ring the scrape's mail rings, and runs that mail (or not) when it
// chooses, as Shard::DrainMail would.
class LoopScrapeTest : public ::testing::Test {
 protected:
  struct Answer {
    std::optional<std::string> text;
    std::thread::id thread;
  };

  void SetUp() override {
    config_.threads = 1;
    ASSERT_EQ(io_uring_queue_init(8, &ring_, 0), 0);
    set_ = std::make_unique<ShardSet>(config_, nullptr);
    mail_ = std::make_unique<ExternalMail>(mailboxes_, std::vector<int>{ring_.ring_fd});
    std::string error;
    loop_ = IoLoop::Create({.thread_name = "scrape-test"}, &error);
    ASSERT_NE(loop_, nullptr) << error;
    loop_->Start({.started = [this] { loop_thread_ = std::this_thread::get_id(); }});
  }
  void TearDown() override {
    loop_->Stop();
    io_uring_queue_exit(&ring_);
  }

  // Starts a scrape on the loop thread; returns once it has asked (CollectMetrics does not wait).
  std::future<Answer> Scrape(std::chrono::milliseconds timeout) {
    auto answer = std::make_shared<std::promise<Answer>>();
    std::function<void()> start = [&, answer] {
      CollectMetrics(*set_, *mail_, *loop_, IoLoop::Clock::now() + timeout,
                     [answer](std::optional<std::string> text) {
                       answer->set_value({std::move(text), std::this_thread::get_id()});
                     });
    };
    std::promise<void> asked;
    struct Start {
      std::function<void()>* start;
      std::promise<void>* asked;
    } task{&start, &asked};
    EXPECT_EQ(loop_->Post(IoTask{[](const IoTask& t) {
                                   auto* s = static_cast<Start*>(t.ptr);
                                   (*s->start)();
                                   s->asked->set_value();
                                 },
                                 &task}),
              PushResult::kQueued);
    asked.get_future().wait();
    return answer->get_future();
  }

  // Runs the shard's part of every scrape asked so far.
  size_t AnswerAsShard() {
    return mailboxes_.Inbox(0).Drain([this](Mail& mail) { mail.run(set_->shard(0), mail); });
  }

  Config config_;
  io_uring ring_{};
  MailboxMatrix mailboxes_{1, 64, 64};
  std::unique_ptr<ShardSet> set_;
  std::unique_ptr<ExternalMail> mail_;
  std::unique_ptr<IoLoop> loop_;
  std::thread::id loop_thread_;
};

TEST_F(LoopScrapeTest, EveryPartInTimeIsRenderedAndAnsweredOnTheLoop) {
  std::future<Answer> answer = Scrape(5s);
  EXPECT_EQ(AnswerAsShard(), 1u);
  ASSERT_EQ(answer.wait_for(5s), std::future_status::ready);
  const Answer got = answer.get();
  ASSERT_TRUE(got.text.has_value());
  EXPECT_NE(got.text->find("\nringcast_shards 1\n"), std::string::npos) << *got.text;
  EXPECT_NE(got.text->find("\nringcast_scrape_incomplete 0\n"), std::string::npos);
  EXPECT_EQ(got.thread, loop_thread_);
}

TEST_F(LoopScrapeTest, AShardSilentPastTheDeadlineGetsNulloptWithoutAnyWait) {
  // The shard does not run its mail: the deadline answers, on the loop thread, while the part
  // is still out.
  std::future<Answer> answer = Scrape(50ms);
  ASSERT_EQ(answer.wait_for(5s), std::future_status::ready);
  const Answer got = answer.get();
  EXPECT_FALSE(got.text.has_value());
  EXPECT_EQ(got.thread, loop_thread_);
  // The late part still runs, finds the scrape answered and frees it (under ASan: no leak, no
  // use after free), and the loop serves the next scrape.
  EXPECT_EQ(AnswerAsShard(), 1u);
  std::future<Answer> next = Scrape(5s);
  EXPECT_EQ(AnswerAsShard(), 1u);
  ASSERT_EQ(next.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(next.get().text.has_value());
}

TEST_F(LoopScrapeTest, AShardThatRefusesTheMailIsLeftOutAndSaidToBe) {
  mailboxes_.Inbox(0).Close();  // As a shard that has left its loop.
  std::future<Answer> answer = Scrape(5s);
  ASSERT_EQ(answer.wait_for(5s), std::future_status::ready);
  const Answer got = answer.get();
  ASSERT_TRUE(got.text.has_value());
  EXPECT_NE(got.text->find("\nringcast_scrape_incomplete 1\n"), std::string::npos) << *got.text;
}

}  // namespace
}  // namespace ringcast
