// PgChatStore's message search (schema v13; storage/search_store.h): the GIN index
// messages_search, ranked by ts_rank, on the readers' lane.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "storage/message_kinds.h"
#include "storage/pg_schema.h"
#include "storage/pg_store_internal.h"

namespace ringcast::storage {

using namespace pg_internal;

namespace {

// The expression and the predicate are those of the index (pg_schema.cc, version 13), word for
// word. plainto_tsquery ANDs the words it is given and reads no operators. The score is ts_rank
// negated (lower is better, as SQLite's bm25) in float8, which a cursor carries exactly. The
// snippets are made here from the page's bodies (Highlight, search_store.h). RC_SEARCH_WHERE is
// followed by the membership test, then RC_SEARCH_REST.
#define RC_SEARCH_WHERE                                                                         \
  "SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.kind, m.sent_at, m.edited_at, score, " \
  "m.body FROM messages m, LATERAL (SELECT (-ts_rank(to_tsvector('simple'::regconfig, "         \
  "m.body), plainto_tsquery('simple'::regconfig, $2)))::float8 AS score) s "                    \
  "WHERE to_tsvector('simple'::regconfig, m.body) @@ plainto_tsquery('simple'::regconfig, $2) " \
  "AND m." RINGCAST_ORDINARY_KIND_SQL " AND m.deleted_at IS NULL "
#define RC_SEARCH_REST                                                                          \
  "AND ($4::int8 IS NULL OR m.sender_id = $4::int8) "                                           \
  "AND ($5::int8 IS NULL OR m.sent_at < $5::int8) "                                             \
  "AND ($6::int8 IS NULL OR m.sent_at > $6::int8) "                                             \
  "AND ($7::float8 IS NULL OR score > $7::float8 OR (score = $7::float8 AND m.id < $8::int8)) " \
  "ORDER BY score, m.id DESC LIMIT $9::int8"
constexpr PgStatement kSearchStatements[] = {
    // Every conversation of the caller's: the words' index, then membership. ($3, NULL here, is
    // named so that both statements take the same parameters.)
    {"search_messages",
     RC_SEARCH_WHERE "AND m.conversation_id IN (SELECT conversation_id FROM users_conversations "
                     "WHERE user_id = $1::int8) AND $3::int8 IS NULL " RC_SEARCH_REST},
    // One conversation (`conv`), a statement of its own so that its plan can start from the
    // conversation's rows (the primary key) rather than from every message holding the words.
    {"search_messages_in",
     RC_SEARCH_WHERE "AND m.conversation_id = $3::int8 AND EXISTS (SELECT 1 FROM "
                     "users_conversations WHERE conversation_id = $3::int8 AND "
                     "user_id = $1::int8) " RC_SEARCH_REST},
};
#undef RC_SEARCH_WHERE
#undef RC_SEARCH_REST

std::string Double(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.17g", value);
  return text;
}

}  // namespace

std::span<const PgStatement> PgSearchStatements() { return kSearchStatements; }

void PgChatStore::SearchMessages(SearchQuery query, Reply<std::vector<SearchHit>> reply) {
  std::string words;
  for (const std::string& term : query.terms) {
    if (!words.empty()) words += ' ';
    words += term;
  }
  PgQuery search{
      .statement = query.conv ? "search_messages_in" : "search_messages",
      .values = {Int(query.user), std::move(words), Int(query.conv.value_or(0)),
                 Int(query.from.value_or(0)), Int(query.before.value_or(0)),
                 Int(query.after.value_or(0)), query.cursor ? Double(query.cursor->score) : "",
                 query.cursor ? Int(query.cursor->id) : "", Int(int64_t{query.limit} + 1)},
      .nulls = {false, false, !query.conv, !query.from, !query.before, !query.after, !query.cursor,
                !query.cursor, false}};
  Submit(
      *pipeline_, PgPipeline::kReaders, Kind::kRead, {std::move(search)},
      [terms = std::move(query.terms)](PgResults results, std::vector<SearchHit>& out) {
        ForEachRow(results[0], [&](const Row& row) {
          out.push_back(SearchHit{.id = row.Int(0),
                                  .conv = row.Int(1),
                                  .seq = row.Int(2),
                                  .from = row.Int(3),
                                  .kind = row.Text(4),
                                  .ts = row.Int(5),
                                  .edited_at = row.Int(6),
                                  .score = std::strtod(row.Text(7).c_str(), nullptr),
                                  .snippet = Highlight(row.View(8), terms)});
        });
        return Status();
      },
      std::move(reply));
}

}  // namespace ringcast::storage
