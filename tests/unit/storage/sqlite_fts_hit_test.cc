#include "storage/sqlite_fts_hit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "storage/sqlite_db.h"
#include "tests/unit/storage/storage_test_util.h"

namespace ringcast::storage {
namespace {

class FtsHitTest : public testing::TestDbFixture {
 protected:
  FtsHitTest() : TestDbFixture("fts.db") {}
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(TestDbFixture::SetUp());
    ASSERT_TRUE(db_->Exec("CREATE VIRTUAL TABLE t USING fts5(body)").ok());
    ASSERT_TRUE(db_->Exec(R"sql(
INSERT INTO t(rowid, body) VALUES
  (1, 'apple pear'), (2, 'apple apple apple plum and a long tail of other words here'),
  (3, 'pear pear'), (4, 'plum'), (5, 'apple pear plum fig'), (6, 'fig fig fig fig apple'),
  (7, 'something else entirely'), (8, 'apple');
)sql")
                    .ok());
  }

  int64_t DocumentsWith(const std::string& word) {
    Result<int64_t> n = db_->QueryInt64("SELECT count(*) FROM t WHERE t MATCH '" + word + "'");
    EXPECT_TRUE(n.ok());
    return n.ok() ? *n : 0;
  }
};

// With the words' document counts given, Bm25 ranks exactly as FTS5's bm25() does.
TEST_F(FtsHitTest, ScoresAsFts5Bm25GivenTheDocumentCounts) {
  for (const char* query : {"apple pear", "apple", "fig apple", "plum pear apple"}) {
    std::vector<int64_t> counts;
    std::string words(query);
    for (size_t at = 0; at < words.size();) {
      const size_t space = std::min(words.find(' ', at), words.size());
      counts.push_back(DocumentsWith(words.substr(at, space - at)));
      at = space + 1;
    }
    Bm25 bm25(counts);
    auto rows = db_->Prepare("SELECT rowid, bm25(t), ringcast_hit(t) FROM t WHERE t MATCH ?1");
    rows->BindText(1, query);
    int seen = 0;
    while (rows->Step() == StepResult::kRow) {
      std::optional<FtsHit> hit = DecodeFtsHit(rows->ColumnBlob(2));
      ASSERT_TRUE(hit.has_value());
      EXPECT_EQ(hit->rows, 8);
      EXPECT_EQ(hit->occurrences.size(), counts.size());
      EXPECT_NEAR(bm25.Score(*hit), rows->ColumnDouble(1), 1e-9)
          << query << ", row " << rows->ColumnInt64(0);
      ++seen;
    }
    ASSERT_TRUE(rows->status().ok()) << rows->status().ToString();
    EXPECT_GT(seen, 0) << query;
  }
}

// One word: its IDF is left out, so scores are bm25()'s divided by it, in the same order.
TEST_F(FtsHitTest, OneWordKeepsBm25sOrder) {
  Bm25 bm25({});
  auto rows =
      db_->Prepare("SELECT bm25(t), ringcast_hit(t) FROM t WHERE t MATCH 'apple' ORDER BY bm25(t)");
  double last = -INFINITY;
  double ratio = 0;
  while (rows->Step() == StepResult::kRow) {
    const double score = bm25.Score(*DecodeFtsHit(rows->ColumnBlob(1)));
    EXPECT_GE(score, last);
    last = score;
    if (ratio == 0) ratio = rows->ColumnDouble(0) / score;
    EXPECT_NEAR(rows->ColumnDouble(0) / score, ratio, 1e-9);
  }
  EXPECT_GT(ratio, 0);
}

TEST_F(FtsHitTest, DecodeRefusesWhatItDidNotWrite) {
  const uint8_t short_blob[] = {1, 2, 3};
  EXPECT_FALSE(DecodeFtsHit(short_blob).has_value());
  EXPECT_FALSE(DecodeFtsHit({}).has_value());
}

}  // namespace
}  // namespace ringcast::storage
