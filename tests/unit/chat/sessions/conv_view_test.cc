#include "chat/sessions/conv_view.h"

#include <gtest/gtest.h>

#include <vector>

namespace ringcast::chat {
namespace {

// What a sync answer over `stored` (seq after..last) would hold for this view.
std::vector<int64_t> Answer(const ConvView& view, int64_t after, int64_t last) {
  std::vector<int64_t> out;
  for (int64_t seq = after + 1; seq <= last; ++seq) {
    if (view.WantsInAnswer(seq)) out.push_back(seq);
  }
  return out;
}

using Seqs = std::vector<int64_t>;

TEST(ConvViewTest, AskingAgainGetsWhatWasAskedFor) {
  ConvView view(5);
  view.GoLive(5);
  EXPECT_EQ(Answer(view, 0, 5), (Seqs{1, 2, 3, 4, 5}));
  view.RecordAnswered(5);
  EXPECT_EQ(Answer(view, 0, 5), (Seqs{1, 2, 3, 4, 5}));
}

TEST(ConvViewTest, MessagesReceivedLiveAreLeftOutOfAnswers) {
  ConvView view(5);
  view.GoLive(5);
  EXPECT_TRUE(view.TakeLive(6));
  EXPECT_TRUE(view.TakeLive(7));
  EXPECT_EQ(Answer(view, 4, 8), (Seqs{5, 8}));
}

TEST(ConvViewTest, AnAnswerAheadOfTheLiveStreamIsNotRepeatedLive) {
  ConvView view(5);
  view.GoLive(5);
  EXPECT_TRUE(view.TakeLive(6));
  // The store already has 7 and 8; the shard has not been told of them yet.
  EXPECT_EQ(Answer(view, 5, 8), (Seqs{7, 8}));
  view.RecordAnswered(8);
  EXPECT_FALSE(view.TakeLive(7));
  EXPECT_FALSE(view.TakeLive(8));
  EXPECT_TRUE(view.TakeLive(9));
  // Asked again: the answered ones come again, the live ones never.
  EXPECT_EQ(Answer(view, 5, 9), (Seqs{7, 8}));
}

TEST(ConvViewTest, AnAnswerBeforeGoingLiveCountsOnceLive) {
  ConvView view(3);
  EXPECT_FALSE(view.TakeLive(4)) << "not live yet";
  EXPECT_EQ(Answer(view, 0, 5), (Seqs{1, 2, 3, 4, 5}));
  view.RecordAnswered(5);
  view.GoLive(3);  // The owner had published up to 3 when the shard joined.
  EXPECT_FALSE(view.TakeLive(4));
  EXPECT_FALSE(view.TakeLive(5));
  EXPECT_TRUE(view.TakeLive(6));
  EXPECT_EQ(Answer(view, 0, 6), (Seqs{1, 2, 3, 4, 5}));
}

TEST(ConvViewTest, ARewindSendsTheReissuedSeqsAgain) {
  // 6..8 went out (7 in an answer), then the database lost 7 and 8 and hands them out again.
  ConvView view(5);
  view.GoLive(5);
  EXPECT_TRUE(view.TakeLive(6));
  view.RecordAnswered(8);
  view.Rewind(6);
  EXPECT_TRUE(view.TakeLive(7));
  EXPECT_TRUE(view.TakeLive(8));
  EXPECT_FALSE(view.TakeLive(8));
  EXPECT_EQ(Answer(view, 4, 9), (Seqs{5, 9}));
  // Rewinding below where the session went live: everything from there is sent again.
  view.Rewind(3);
  EXPECT_TRUE(view.TakeLive(4));
  EXPECT_EQ(Answer(view, 0, 4), (Seqs{1, 2, 3}));
}

TEST(ConvViewTest, RangesAreBoundedAndForgetTheOldest) {
  ConvView view(0);
  view.GoLive(0);
  int64_t seq = 0;
  for (size_t i = 0; i <= ConvView::kMaxAnsweredRanges; ++i) {
    ASSERT_TRUE(view.TakeLive(++seq));  // Live, then one answered message: a new range.
    view.RecordAnswered(++seq);
  }
  Seqs answered = Answer(view, 0, seq);
  EXPECT_EQ(answered.size(), ConvView::kMaxAnsweredRanges);
  EXPECT_EQ(answered.front(), 4) << "the oldest range (2) is forgotten";
  EXPECT_EQ(answered.back(), seq);
}

TEST(ConvViewTest, ResumingClientGetsEveryMessageOnceWhateverTheRace) {
  // Messages 1..20 exist; the client holds 1..3. The answer (read at some point) and the live
  // stream interleave in every order; whatever happens, the client sees each seq once.
  for (int64_t published_before_answer = 10; published_before_answer <= 20;
       ++published_before_answer) {
    for (int64_t store_had = published_before_answer; store_had <= 20; ++store_had) {
      ConvView view(10);
      view.GoLive(10);
      std::vector<int> seen(21, 0);
      for (int64_t s = 1; s <= 3; ++s) ++seen[s];
      for (int64_t s = 11; s <= published_before_answer; ++s) {
        if (view.TakeLive(s)) ++seen[s];
      }
      Seqs answer = Answer(view, 3, store_had);
      for (int64_t s : answer) ++seen[s];
      if (!answer.empty()) view.RecordAnswered(answer.back());
      for (int64_t s = published_before_answer + 1; s <= 20; ++s) {
        if (view.TakeLive(s)) ++seen[s];
      }
      for (int64_t s = 1; s <= 20; ++s) {
        EXPECT_EQ(seen[s], 1) << "seq " << s << " published " << published_before_answer
                              << " stored " << store_had;
      }
    }
  }
}

}  // namespace
}  // namespace ringcast::chat
