// ringcast_hit(): an FTS5 auxiliary function that hands a matching row's term statistics to C++,
// and Bm25, which ranks them as FTS5's own bm25() would (storage/SCHEMA.md "Search").
//
// Why not bm25() itself: it computes each query word's IDF by walking the word's whole doclist
// once per statement. A search reads one statement per conversation of the caller's
// (sqlite_search_store.cc), so bm25() would walk a common word's 100,000 entries a hundred times.
// Here the walk is done once per search (SqliteChatStore::SearchMessages counts each word's
// documents) and the rows bring only what is theirs.
//
// Registered on every connection by SqliteDb::Configure; called on the reader threads.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "storage/search_store.h"
#include "storage/status.h"

namespace ringcast::storage {

// Makes `ringcast_hit(fts_table)` callable on `db`'s FTS5 tables. It returns a blob of
// little-endian int64s: the table's row count, its total token count, this row's token count,
// then the occurrences of each phrase of the query in this row.
Status RegisterFtsHitFunction(sqlite3* db);

struct FtsHit {
  int64_t rows = 0;                  // Documents in the index.
  int64_t total_tokens = 0;          // Tokens in all of them.
  int64_t tokens = 0;                // Tokens in this one.
  std::vector<int64_t> occurrences;  // Per phrase of the query, in its order.
};

// nullopt: not a blob ringcast_hit() wrote.
std::optional<FtsHit> DecodeFtsHit(std::span<const uint8_t> blob);

// bm25 with FTS5's constants (k1 = 1.2, b = 0.75) and sign: lower is better.
class Bm25 {
 public:
  // `documents_with`: per phrase, how many documents hold it; empty when the query has one
  // phrase, whose IDF then scales every score alike and is left out (1.0).
  explicit Bm25(std::vector<int64_t> documents_with) : documents_with_(std::move(documents_with)) {}

  double Score(const FtsHit& hit);

 private:
  std::vector<int64_t> documents_with_;
  std::vector<double> idf_;  // From the first hit's row count: constant within a read snapshot.
};

}  // namespace ringcast::storage
