// PgChatStore's message search (schema v15; storage/search_store.h): the GIN index
// messages_search, probed per conversation of the caller's, ranked by ts_rank, on the readers'
// lane.
#include <cstdio>
#include <cstdlib>

#include "storage/pg_schema.h"
#include "storage/pg_store_internal.h"

namespace ringcast::storage {

using namespace pg_internal;

namespace {

// rc_search_messages (pg_migrations/v15_search_by_conversation.sql) finds the hits of the caller's
// conversations, filtered and from after the cursor; the page is cut here. The score is ts_rank
// negated (lower is better, as SQLite's bm25) in float8, which a cursor carries exactly. The
// snippets are made here from the page's bodies (Highlight, search_store.h).
constexpr PgStatement kSearchStatements[] = {
    {"search_messages",
     "SELECT hit_id, hit_conv, hit_seq, hit_from, hit_kind, hit_ts, hit_edited_at, hit_score, "
     "hit_body FROM rc_search_messages($1::int8, $2::text, $3::int8, $4::int8, $5::int8, "
     "$6::int8, $7::float8, $8::int8, $9::int8) ORDER BY hit_score, hit_id DESC LIMIT $9::int8"},
    // The caller's conversations and their last_seq, read with a search on a replica: it
    // answers only if it has every message the node knows committed there (pg_replica.h).
    {"search_last_seqs",
     "SELECT uc.conversation_id, c.last_seq FROM users_conversations uc JOIN conversations c "
     "ON c.id = uc.conversation_id WHERE uc.user_id = $1"},
};

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
      .statement = "search_messages",
      .values = {Int(query.user), std::move(words), Int(query.conv.value_or(0)),
                 Int(query.from.value_or(0)), Int(query.before.value_or(0)),
                 Int(query.after.value_or(0)), query.cursor ? Double(query.cursor->score) : "",
                 query.cursor ? Int(query.cursor->id) : "", Int(int64_t{query.limit} + 1)},
      .nulls = {false, false, !query.conv, !query.from, !query.before, !query.after, !query.cursor,
                !query.cursor, false}};
  // Fresh: the replica has every message of the caller's conversations that this node knows
  // committed (edits and deletions are messages too), and no membership change is missing.
  auto fresh = [replica = replica_.get(), user = query.user](PgResults results) {
    if (replica->ChangedRecently(user)) return false;
    bool fresh = true;
    ForEachRow(results[1], [&](const Row& row) {
      fresh = fresh && row.Int(1) >= replica->KnownSeq(row.Int(0));
    });
    return fresh;
  };
  std::vector<PgQuery> queries;
  queries.push_back(std::move(search));
  // Only a replica's answer needs checking: without one the search runs alone, as before. A
  // search names no seqs: in cluster mode it reads the primary (PgReplica::Trusts).
  if (replica_ && replica_->Trusts(/*names_seen=*/false)) {
    queries.push_back(Query("search_last_seqs", {Int(query.user)}));
  }
  ReadReplicaFirst(*pipeline_, replica_.get(), /*names_seen=*/false, std::move(queries),
                   std::move(fresh), RowsInto([terms = std::move(query.terms)](const Row& row) {
                     return SearchHit{.id = row.Int(0),
                                      .conv = row.Int(1),
                                      .seq = row.Int(2),
                                      .from = row.Int(3),
                                      .kind = row.Text(4),
                                      .ts = row.Int(5),
                                      .edited_at = row.Int(6),
                                      .score = std::strtod(row.Text(7).c_str(), nullptr),
                                      .snippet = Highlight(row.View(8), terms)};
                   }),
                   std::move(reply));
}

}  // namespace ringcast::storage
