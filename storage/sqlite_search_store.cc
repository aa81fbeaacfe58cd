// SqliteChatStore's message search (schema v15; storage/search_store.h, storage/SCHEMA.md
// "Search"): the FTS5 table messages_fts, keyed by (conversation_id << 32) | seq, on the reader
// pool.
//
// A search reads the caller's conversations one range of the key at a time (FTS5 seeks to the
// range in each word's doclist), so its cost follows what the caller can see, not how often the
// words occur in the whole database. The hits are ranked here (Bm25, sqlite_fts_hit.h), and
// only the page's messages, with those tied with them, are read from `messages`.
#include <algorithm>

#include "storage/sqlite_chat_store.h"
#include "storage/sqlite_fts_hit.h"

namespace ringcast::storage {
namespace {

// Past this many conversations one statement over the whole index, filtered by membership, is
// cheaper than a statement per conversation (each about 10 µs even when it finds nothing).
constexpr size_t kMaxRangeScans = 1000;
// The hits a search ranks at most (newest first in each conversation, the conversations from
// the newest): a bound on its memory and time, documented in proto/PROTOCOL.md.
constexpr size_t kMaxCandidates = 100'000;

// Each term a quoted FTS5 string (SearchTerms leaves no '"' in one), the terms side by side: an
// implicit AND, with no operator, column filter or prefix the caller could have written.
std::string MatchExpression(const std::vector<std::string>& terms) {
  std::string match;
  for (const std::string& term : terms) {
    if (!match.empty()) match += ' ';
    match += '"';
    match += term;
    match += '"';
  }
  return match;
}

int64_t IndexKey(int64_t conv, int64_t seq) { return (conv << 32) | seq; }

constexpr const char* kConversationsSql =
    "SELECT conversation_id FROM users_conversations WHERE user_id = ?1 "
    "AND (?2 IS NULL OR conversation_id = ?2) ORDER BY conversation_id DESC";
constexpr const char* kDocumentsWithSql =
    "SELECT count(*) FROM search.messages_fts WHERE messages_fts MATCH ?1";
constexpr const char* kRangeSql =
    "SELECT rowid, ringcast_hit(messages_fts) FROM messages_fts "
    "WHERE messages_fts MATCH ?1 AND rowid BETWEEN ?2 AND ?3 ORDER BY rowid DESC";
constexpr const char* kMemberHitsSql =
    "SELECT rowid, ringcast_hit(messages_fts) FROM messages_fts "
    "WHERE messages_fts MATCH ?1 AND (rowid >> 32) IN "
    "(SELECT conversation_id FROM users_conversations WHERE user_id = ?2) ORDER BY rowid DESC";
// deleted_at: the index drops a deleted message at its next pass; until then this keeps it out.
constexpr const char* kNewestMessageSql = "SELECT coalesce(max(id), 0) FROM messages";
constexpr const char* kIndexedUptoSql = "SELECT indexed_upto FROM search.search_progress";
constexpr const char* kMessageSql =
    "SELECT id, sender_id, kind, sent_at, edited_at, body FROM messages "
    "WHERE conversation_id = ?1 AND seq = ?2 AND deleted_at IS NULL";

struct Candidate {
  double score = 0;
  int64_t key = 0;
};

// The query's hits in the caller's conversations, scored, in no order.
Status Candidates(SqliteDb& db, const SearchQuery& query, const std::string& match,
                  std::vector<Candidate>& out) {
  std::vector<int64_t> conversations;
  auto mine = db.Prepare(kConversationsSql);
  mine->Bind(query.user, query.conv);
  Status s =
      ForEachSqliteRow(*mine, [&](Statement& row) { conversations.push_back(row.ColumnInt64(0)); });
  if (!s.ok() || conversations.empty()) return s;

  // One word's IDF scales every score alike: it is counted only when there are several.
  std::vector<int64_t> documents_with;
  if (query.terms.size() > 1) {
    auto count = db.Prepare(kDocumentsWithSql);
    for (const std::string& term : query.terms) {
      count->Reset();
      count->Bind(MatchExpression({term}));
      s = ForEachSqliteRow(*count,
                           [&](Statement& row) { documents_with.push_back(row.ColumnInt64(0)); });
      if (!s.ok()) return s;
    }
  }
  Bm25 bm25(std::move(documents_with));
  Status bad_hit;
  auto take = [&](Statement& row) {
    if (out.size() >= kMaxCandidates) return;
    std::optional<FtsHit> hit = DecodeFtsHit(row.ColumnBlob(1));
    if (!hit) {
      bad_hit = Status(Errc::kInternal, "ringcast_hit returned no statistics");
      return;
    }
    out.push_back(Candidate{.score = bm25.Score(*hit), .key = row.ColumnInt64(0)});
  };

  if (conversations.size() > kMaxRangeScans) {
    auto hits = db.Prepare(kMemberHitsSql);
    hits->Bind(match, query.user);
    s = ForEachSqliteRow(*hits, take);
    return s.ok() ? bad_hit : s;
  }
  auto range = db.Prepare(kRangeSql);
  for (int64_t conv : conversations) {
    if (out.size() >= kMaxCandidates) break;
    range->Reset();
    range->Bind(match, IndexKey(conv, 0), IndexKey(conv + 1, 0) - 1);
    s = ForEachSqliteRow(*range, take);
    if (!s.ok()) return s;
    if (!bad_hit.ok()) return bad_hit;
  }
  return Status();
}

bool PassesFilters(const SearchQuery& query, const SearchHit& hit) {
  if (query.from && hit.from != *query.from) return false;
  if (query.before && hit.ts >= *query.before) return false;
  if (query.after && hit.ts <= *query.after) return false;
  return true;
}

// The page: the candidates in rank order (score, then the highest message id) from after the
// cursor, read from `messages` a group of equal scores at a time, since only the rows tell the
// ids that order a group and the filters that drop from it.
Status RankedPage(SqliteDb& db, const SearchQuery& query, std::vector<Candidate>& candidates,
                  std::vector<SearchHit>& out) {
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.score < b.score; });
  const size_t wanted = size_t{query.limit} + 1;
  auto begin = candidates.begin();
  if (query.cursor) {
    begin = std::lower_bound(candidates.begin(), candidates.end(), query.cursor->score,
                             [](const Candidate& c, double score) { return c.score < score; });
  }
  auto message = db.Prepare(kMessageSql);
  std::vector<SearchHit> group;
  while (begin != candidates.end() && out.size() < wanted) {
    const double score = begin->score;
    auto end = std::find_if(begin, candidates.end(),
                            [score](const Candidate& c) { return c.score != score; });
    group.clear();
    for (auto it = begin; it != end; ++it) {
      const int64_t conv = it->key >> 32;
      const int64_t seq = it->key & 0xFFFF'FFFF;
      message->Reset();
      message->Bind(conv, seq);
      Status s = ForEachSqliteRow(*message, [&](Statement& row) {
        group.push_back(SearchHit{.id = row.ColumnInt64(0),
                                  .conv = conv,
                                  .seq = seq,
                                  .from = row.ColumnInt64(1),
                                  .kind = std::string(row.ColumnText(2)),
                                  .ts = row.ColumnInt64(3),
                                  .edited_at = row.ColumnInt64(4),
                                  .score = score,
                                  .snippet = {.text = std::string(row.ColumnText(5))}});
      });
      if (!s.ok()) return s;
    }
    std::erase_if(group, [&](const SearchHit& hit) {
      const bool seen = query.cursor && score == query.cursor->score && hit.id >= query.cursor->id;
      return seen || !PassesFilters(query, hit);
    });
    std::sort(group.begin(), group.end(),
              [](const SearchHit& a, const SearchHit& b) { return a.id > b.id; });
    for (SearchHit& hit : group) {
      if (out.size() == wanted) break;
      hit.snippet = Highlight(hit.snippet.text, query.terms);  // The body, until here.
      out.push_back(std::move(hit));
    }
    begin = end;
  }
  return Status();
}

}  // namespace

void SqliteChatStore::SearchMessages(SearchQuery query, Reply<std::vector<SearchHit>> reply) {
  RunSearch(std::make_shared<const SearchQuery>(std::move(query)), std::move(reply), false);
}

void SqliteChatStore::RunSearch(std::shared_ptr<const SearchQuery> query,
                                Reply<std::vector<SearchHit>> reply, bool waited) {
  struct Outcome {
    std::vector<SearchHit> hits;
    int64_t wait_for = 0;  // The newest message id the index does not hold yet.
  };
  Submit<Outcome>(
      Kind::kRead,
      [query, waited](SqliteDb& db, Outcome& out) {
        if (!waited) {
          // A search finds what was committed before it: the sender of a message, searching
          // right after its ack, finds it.
          Result<int64_t> newest = db.QueryInt64(kNewestMessageSql);
          Result<int64_t> indexed = db.QueryInt64(kIndexedUptoSql);
          if (!newest.ok()) return newest.status();
          if (!indexed.ok()) return indexed.status();
          if (*indexed < *newest) {
            out.wait_for = *newest;
            return Status();
          }
        }
        std::vector<Candidate> candidates;
        if (Status s = Candidates(db, *query, MatchExpression(query->terms), candidates); !s.ok()) {
          return s;
        }
        return RankedPage(db, *query, candidates, out.hits);
      },
      Reply<Outcome>([this, query, reply = std::move(reply)](Result<Outcome> outcome) mutable {
        if (!outcome.ok()) return reply(outcome.status());
        if (outcome->wait_for == 0) return reply(std::move(outcome->hits));
        search_index_->WhenIndexed(outcome->wait_for, [this, query = std::move(query),
                                                       reply = std::move(reply)]() mutable {
          RunSearch(std::move(query), std::move(reply), true);
        });
      }));
}

}  // namespace ringcast::storage
