#include "storage/sqlite_fts_hit.h"

#include <cmath>
#include <cstring>

#include "storage/sqlite_db.h"

namespace ringcast::storage {
namespace {

constexpr double kK1 = 1.2;
constexpr double kB = 0.75;
constexpr size_t kFixedWords = 3;  // rows, total_tokens, tokens.

void HitFunction(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* context, int,
                 sqlite3_value**) {
  const int phrases = api->xPhraseCount(fts);
  sqlite3_int64 words[kFixedWords + kMaxSearchTerms] = {};
  if (phrases < 0 || static_cast<size_t>(phrases) > kMaxSearchTerms) {
    sqlite3_result_error(context, "ringcast_hit: too many phrases", -1);
    return;
  }
  int tokens = 0;
  int instances = 0;
  int rc = api->xRowCount(fts, &words[0]);
  if (rc == SQLITE_OK) rc = api->xColumnTotalSize(fts, -1, &words[1]);
  if (rc == SQLITE_OK) rc = api->xColumnSize(fts, -1, &tokens);
  if (rc == SQLITE_OK) rc = api->xInstCount(fts, &instances);
  for (int i = 0; rc == SQLITE_OK && i < instances; ++i) {
    int phrase = 0;
    int column = 0;
    int offset = 0;
    rc = api->xInst(fts, i, &phrase, &column, &offset);
    if (rc == SQLITE_OK && phrase >= 0 && phrase < phrases) ++words[kFixedWords + phrase];
  }
  if (rc != SQLITE_OK) {
    sqlite3_result_error_code(context, rc);
    return;
  }
  words[2] = tokens;
  // x86-64 and aarch64 are little-endian: the int64s go out as they are in memory.
  sqlite3_result_blob(context, words,
                      static_cast<int>(sizeof(sqlite3_int64) * (kFixedWords + phrases)),
                      SQLITE_TRANSIENT);
}

}  // namespace

Status RegisterFtsHitFunction(sqlite3* db) {
  fts5_api* api = nullptr;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &stmt, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_bind_pointer(stmt, 1, &api, "fts5_api_ptr", nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_step(stmt) == SQLITE_ROW ? SQLITE_OK : sqlite3_errcode(db);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_OK || api == nullptr) {
    return SqliteStatus(rc == SQLITE_OK ? SQLITE_ERROR : rc, "FTS5 is not available",
                        sqlite3_errmsg(db));
  }
  rc = api->xCreateFunction(api, "ringcast_hit", nullptr, &HitFunction, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(rc, "cannot register ringcast_hit", sqlite3_errstr(rc));
  return Status();
}

std::optional<FtsHit> DecodeFtsHit(std::span<const uint8_t> blob) {
  if (blob.size() % sizeof(int64_t) != 0 || blob.size() < kFixedWords * sizeof(int64_t)) {
    return std::nullopt;
  }
  std::vector<int64_t> words(blob.size() / sizeof(int64_t));
  std::memcpy(words.data(), blob.data(), blob.size());
  return FtsHit{.rows = words[0],
                .total_tokens = words[1],
                .tokens = words[2],
                .occurrences = std::vector<int64_t>(words.begin() + kFixedWords, words.end())};
}

double Bm25::Score(const FtsHit& hit) {
  if (idf_.empty()) {
    idf_.assign(hit.occurrences.size(), 1.0);
    for (size_t i = 0; i < documents_with_.size() && i < idf_.size(); ++i) {
      const double n = static_cast<double>(documents_with_[i]);
      const double idf = std::log((static_cast<double>(hit.rows) - n + 0.5) / (n + 0.5));
      // FTS5's floor: a word in more than half the documents still counts a little.
      idf_[i] = idf > 0 ? idf : 1e-6;
    }
  }
  const double average =
      hit.rows > 0 ? static_cast<double>(hit.total_tokens) / static_cast<double>(hit.rows) : 1.0;
  const double length = 1 - kB + kB * static_cast<double>(hit.tokens) / average;
  double score = 0;
  for (size_t i = 0; i < hit.occurrences.size() && i < idf_.size(); ++i) {
    const double f = static_cast<double>(hit.occurrences[i]);
    score += idf_[i] * (f * (kK1 + 1)) / (f + kK1 * length);
  }
  return -score;
}

}  // namespace ringcast::storage
