// The search family's HTTP route: message search, GET
// /api/search?q=WORDS[&conv=&from=&before=&after=&limit=&cursor=] (proto/PROTOCOL.md, "Search"):
// the caller's conversations' messages that hold every word, best first, each with a highlighted
// snippet, a page at a time. The store does the matching (storage/search_store.h); this file checks
// the parameters and writes the answer.
#include <simdjson.h>

#include <bit>
#include <charconv>
#include <cinttypes>
#include <cstdio>

#include "chat/ops/routes.h"
#include "chat/service.h"
#include "core/runtime/shard.h"
#include "proto/url_path.h"
#include "storage/search_store.h"

namespace ringcast::chat {
namespace {

constexpr uint32_t kDefaultSearchLimit = 20;
constexpr uint32_t kMaxSearchLimit = 50;

template <typename T>
bool ParseNumber(std::string_view text, T* value, int base = 10) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value, base);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// The cursor is opaque to clients; inside, the last hit's score (its IEEE-754 bits, so it comes
// back exact) and id: "<16 hex digits>.<id>".
std::string EncodeCursor(const storage::SearchHit& hit) {
  char text[48];
  std::snprintf(text, sizeof(text), "%016" PRIx64 ".%" PRId64, std::bit_cast<uint64_t>(hit.score),
                hit.id);
  return text;
}

bool DecodeCursor(std::string_view text, storage::SearchCursor* cursor) {
  const size_t dot = text.find('.');
  uint64_t bits = 0;
  if (dot != 16 || !ParseNumber(text.substr(0, dot), &bits, 16) ||
      !ParseNumber(text.substr(dot + 1), &cursor->id) || cursor->id < 1) {
    return false;
  }
  cursor->score = std::bit_cast<double>(bits);
  return true;
}

// The snippet as segments ({"text","match"}) cut at its match ranges: a client renders each as
// text and highlights the matches, with no markup to parse or escape, and no text of the body's
// can pass for a match.
void WriteSnippet(JsonWriter& writer, const storage::Snippet& snippet) {
  const std::string_view text = snippet.text;
  writer.BeginArray();
  size_t at = 0;
  auto segment = [&](size_t end, bool match) {
    if (end > at) {
      writer.BeginObject()
          .Field("text", text.substr(at, end - at))
          .Field("match", match)
          .EndObject();
    }
    at = end;
  };
  for (const storage::Snippet::Range& range : snippet.matches) {
    if (range.begin < at || range.end > text.size() || range.end <= range.begin) continue;
    segment(range.begin, false);
    segment(range.end, true);
  }
  segment(text.size(), false);
  writer.EndArray();
}

// One result: where the message is, who sent it and when, and its snippet.
void WriteHit(JsonWriter& writer, const storage::SearchHit& hit) {
  writer.BeginObject()
      .Field("conv", hit.conv)
      .Field("seq", hit.seq)
      .Field("id", hit.id)
      .Field("from", hit.from)
      .Field("kind", hit.kind)
      .Field("ts", hit.ts);
  if (hit.edited_at != 0) writer.Field("edited_at", hit.edited_at);
  writer.Key("snippet");
  WriteSnippet(writer, hit.snippet);
  writer.EndObject();
}

// An optional integer parameter at least `min`; false when present and not one.
bool OptionalInt(std::string_view query, std::string_view name, int64_t min,
                 std::optional<int64_t>* out) {
  const std::optional<std::string_view> value = http::QueryParam(query, name);
  if (!value) return true;
  int64_t number = 0;
  if (!ParseNumber(*value, &number) || number < min) return false;
  *out = number;
  return true;
}

void HandleSearch(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  const std::string_view query = exchange.request().query;
  const std::optional<std::string_view> q = http::QueryParam(query, "q");
  std::string text;
  if (!q || !http::PercentDecode(*q, &text) || text.empty() ||
      text.size() > storage::kMaxSearchQueryBytes ||
      !simdjson::validate_utf8(text.data(), text.size())) {
    return exchange.RespondError(400, "q must be 1 to 256 bytes of UTF-8 text");
  }
  storage::SearchQuery search{.user = call.auth.user, .terms = storage::SearchTerms(text)};
  if (search.terms.empty()) {
    return exchange.RespondError(400, "q has no words to search for (letters or digits)");
  }
  if (search.terms.size() > storage::kMaxSearchTerms) {
    return exchange.RespondError(400, "q has more than 16 words");
  }
  if (!OptionalInt(query, "conv", 1, &search.conv)) {
    return exchange.RespondError(400, "conv must be a conversation id");
  }
  if (!OptionalInt(query, "from", 1, &search.from)) {
    return exchange.RespondError(400, "from must be a user id");
  }
  if (!OptionalInt(query, "before", 0, &search.before) ||
      !OptionalInt(query, "after", 0, &search.after)) {
    return exchange.RespondError(400, "before and after must be times in ms since the epoch");
  }
  search.limit = kDefaultSearchLimit;
  if (const std::optional<std::string_view> value = http::QueryParam(query, "limit")) {
    if (!ParseNumber(*value, &search.limit) || search.limit < 1 || search.limit > kMaxSearchLimit) {
      return exchange.RespondError(400, "limit must be 1 to 50");
    }
  }
  if (const std::optional<std::string_view> value = http::QueryParam(query, "cursor")) {
    storage::SearchCursor cursor;
    if (!DecodeCursor(*value, &cursor)) {
      return exchange.RespondError(400, "cursor must be a next_cursor this route returned");
    }
    search.cursor = cursor;
  }
  const uint32_t limit = search.limit;
  DeferredHttp deferred = exchange.Defer();
  api.service().store().SearchMessages(
      std::move(search),
      StoreReply<std::vector<storage::SearchHit>>(
          api, deferred,
          [limit](HttpApi& self, const DeferredHttp& deferred,
                  std::vector<storage::SearchHit> hits) {
            const bool more = hits.size() > limit;
            if (more) hits.resize(limit);
            JsonWriter writer;
            WriteList(writer.BeginObject(), "results", hits, WriteHit).Key("next_cursor");
            more ? writer.String(EncodeCursor(hits.back())) : writer.Null();
            self.Answer(deferred, 200, writer.EndObject().str());
          }));
}

}  // namespace

std::span<const HttpRoute> SearchRoutes() {
  static constexpr HttpRoute kRows[] = {
      {http::Method::kGet, "/api/search", RouteAccess::kBearer, OnApi<&HandleSearch>},
  };
  return kRows;
}

}  // namespace ringcast::chat
