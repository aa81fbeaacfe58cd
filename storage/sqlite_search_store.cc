// SqliteChatStore's message search (schema v13; storage/search_store.h): the FTS5 table
// messages_fts, ranked by bm25(), on the reader pool.
#include "storage/sqlite_chat_store.h"

namespace ringcast::storage {
namespace {

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

// Every match is ranked (bm25 needs the whole doclist anyway); the snippets are made afterwards,
// for the page alone, each by a MATCH restricted to the hit's rowid (FTS5 seeks to it).
constexpr const char* kSearchSql =
    "SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.kind, m.sent_at, m.edited_at, h.score "
    "FROM (SELECT rowid AS id, bm25(messages_fts) AS score FROM messages_fts "
    "      WHERE messages_fts MATCH ?2) h "
    "JOIN messages m ON m.id = h.id "
    "WHERE m.conversation_id IN (SELECT conversation_id FROM users_conversations "
    "                            WHERE user_id = ?1) "
    "AND (?3 IS NULL OR m.conversation_id = ?3) AND (?4 IS NULL OR m.sender_id = ?4) "
    "AND (?5 IS NULL OR m.sent_at < ?5) AND (?6 IS NULL OR m.sent_at > ?6) "
    "AND (?7 IS NULL OR h.score > ?7 OR (h.score = ?7 AND m.id < ?8)) "
    "ORDER BY h.score, m.id DESC LIMIT ?9";

constexpr const char* kSnippetSql =
    "SELECT snippet(messages_fts, 0, '" RINGCAST_MATCH_OPEN_SQL "', '" RINGCAST_MATCH_CLOSE_SQL
    "', '…', ?3) FROM messages_fts WHERE messages_fts MATCH ?1 AND rowid = ?2";

void BindOptional(Statement& stmt, int index, const std::optional<int64_t>& value) {
  if (value) {
    stmt.BindInt64(index, *value);
  } else {
    stmt.BindNull(index);
  }
}

}  // namespace

void SqliteChatStore::SearchMessages(SearchQuery query, Reply<std::vector<SearchHit>> reply) {
  Submit<std::vector<SearchHit>>(
      Kind::kRead,
      [query = std::move(query)](SqliteDb& db, std::vector<SearchHit>& out) {
        const std::string match = MatchExpression(query.terms);
        auto search = db.Prepare(kSearchSql);
        search->BindInt64(1, query.user).BindText(2, match);
        BindOptional(*search, 3, query.conv);
        BindOptional(*search, 4, query.from);
        BindOptional(*search, 5, query.before);
        BindOptional(*search, 6, query.after);
        if (query.cursor) {
          search->BindDouble(7, query.cursor->score).BindInt64(8, query.cursor->id);
        } else {
          search->BindNull(7).BindNull(8);
        }
        search->BindInt64(9, int64_t{query.limit} + 1);
        Status s = ForEachSqliteRow(*search, [&](Statement& row) {
          out.push_back(SearchHit{.id = row.ColumnInt64(0),
                                  .conv = row.ColumnInt64(1),
                                  .seq = row.ColumnInt64(2),
                                  .from = row.ColumnInt64(3),
                                  .kind = std::string(row.ColumnText(4)),
                                  .ts = row.ColumnInt64(5),
                                  .edited_at = row.ColumnInt64(6),
                                  .score = row.ColumnDouble(7)});
        });
        if (!s.ok()) return s;
        auto snippet = db.Prepare(kSnippetSql);
        for (SearchHit& hit : out) {
          snippet->Reset();
          snippet->BindText(1, match).BindInt64(2, hit.id).BindInt64(3, kSnippetWords);
          s = ForEachSqliteRow(*snippet, [&](Statement& row) { hit.snippet = row.ColumnText(0); });
          if (!s.ok()) return s;
        }
        return Status();
      },
      std::move(reply));
}

}  // namespace ringcast::storage
