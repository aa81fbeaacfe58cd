// SearchStore: full-text search of messages (issue 25, "Search"; storage/SCHEMA.md, version 13),
// for GET /api/search (proto/PROTOCOL.md). Replies as store_types.h says.
//
// What is indexed: the body of every ordinary message (message_kinds.h) that is not deleted, in
// its current state: an edit reindexes the new body, a deletion removes it, in the transaction
// that makes the change. SQLite: an external-content FTS5 table kept by triggers; PostgreSQL: a
// partial GIN expression index over to_tsvector('simple', body). Both match whole words, every
// term of the query (AND), case-insensitively.
//
// Called from shards (the HTTP API). Backends: SqliteChatStore (sqlite_search_store.cc) and
// PgChatStore (pg_search_store.cc), with the same rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/store_types.h"

namespace ringcast::storage {

// Bounds on a query (the API refuses more with 400): its text, and the terms in it.
inline constexpr size_t kMaxSearchQueryBytes = 256;
inline constexpr size_t kMaxSearchTerms = 16;

// A query's terms: its runs of ASCII letters and digits and of non-ASCII bytes, ASCII lowercased;
// everything else (quotes, `*`, `-`, `(`, `:`, ...) separates terms. Each term then goes to the
// store as a quoted phrase (FTS5) or through plainto_tsquery (PostgreSQL), so a query's text is
// never FTS syntax: `NEAR`, `AND` and `OR` are words like any other.
std::vector<std::string> SearchTerms(std::string_view text);

// Words of a snippet (the passage Highlight cuts, on both stores).
inline constexpr size_t kSnippetWords = 24;

// A passage of a message's body with its matched words named by position, never by marks in
// the text: a body may hold any character (the private-use ones too), and every one of them
// comes back as text, so no text can pass for a match (proto/PROTOCOL.md, "Search").
struct Snippet {
  struct Range {
    uint32_t begin = 0;  // Byte offsets into `text`: [begin, end), ascending and disjoint.
    uint32_t end = 0;
    friend bool operator==(const Range&, const Range&) = default;
  };
  std::string text;
  std::vector<Range> matches;
};

// `body`'s passage of up to kSnippetWords words from a little before the first of `terms` it
// holds, each word equal to a term (ASCII case ignored) a match, "…" where text was left out.
// PostgreSQL's ts_headline would do, but it drops what its parser reads as HTML tags (a chat
// message's "<b>" is text), and FTS5's snippet() marks matches inside the text.
Snippet Highlight(std::string_view body, const std::vector<std::string>& terms);

// A position in the ranked order, from the last hit of a page: the next page starts after it.
struct SearchCursor {
  double score = 0;
  int64_t id = 0;
};

struct SearchQuery {
  int64_t user = 0;                // The caller: only conversations they are a member of.
  std::vector<std::string> terms;  // SearchTerms: 1 to kMaxSearchTerms.
  std::optional<int64_t> conv;     // Only this conversation.
  std::optional<int64_t> from;     // Only this author.
  std::optional<int64_t> before;   // sent_at < before (ms).
  std::optional<int64_t> after;    // sent_at > after (ms).
  std::optional<SearchCursor> cursor;
  uint32_t limit = 20;  // The store returns up to limit + 1 hits: the extra one says there is more.
};

// One message found. `score` orders the hits: lower is better (SQLite's bm25(), PostgreSQL's
// ts_rank negated), then the newest (highest id) first.
struct SearchHit {
  int64_t id = 0;
  int64_t conv = 0;
  int64_t seq = 0;
  int64_t from = 0;
  std::string kind;
  int64_t ts = 0;
  int64_t edited_at = 0;  // 0: never edited.
  double score = 0;
  Snippet snippet;
};

#define RINGCAST_SEARCH_STORE_OPS(OP)                                                      \
  /* Messages matching every term, in conversations `query.user` is a member of, ranked as \
     SearchHit says, from after `query.cursor`; at most query.limit + 1; a read. */        \
  OP(SearchMessages, (SearchQuery query, Reply<std::vector<SearchHit>> reply))

class SearchStore {
 public:
  virtual ~SearchStore() = default;
  RINGCAST_SEARCH_STORE_OPS(RINGCAST_STORE_OP_PURE)
};

}  // namespace ringcast::storage
