// HttpApi's user search, GET /api/users?q=PREFIX[&limit=N], and lookup by id,
// GET /api/users?ids=1,2,3 (proto/PROTOCOL.md): how a client finds someone to start a
// conversation with, by the start of their username or of a word of their display name, and how
// it names the members and senders it knows only by id. Both answer profiles (WriteProfile).
#include <simdjson.h>

#include <charconv>

#include "chat/api/http_api.h"
#include "chat/chat_shard.h"
#include "chat/service.h"
#include "core/runtime/shard.h"
#include "proto/url_path.h"

namespace ringcast::chat {
namespace {

constexpr uint32_t kDefaultUserSearchLimit = 20;
constexpr uint32_t kMaxUserSearchLimit = 50;
// Ids per lookup: a page of members or senders; bounds the store's work and the answer.
constexpr size_t kMaxUserLookupIds = 100;

// A search prefix: a username's or a display name's word, never longer than either.
constexpr size_t kMaxQueryBytes = 64;

// UTF-8 (a percent-decoded query is not checked yet) without control characters.
bool ValidQuery(std::string_view text) {
  if (!simdjson::validate_utf8(text.data(), text.size())) return false;
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return false;
  }
  return true;
}

// "1,2,3": positive decimal ids, comma-separated, at most kMaxUserLookupIds (repeats allowed).
bool ParseIds(std::string_view text, std::vector<int64_t>* ids) {
  if (text.empty()) return false;
  for (;;) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    int64_t id = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || id < 1 ||
        ids->size() == kMaxUserLookupIds) {
      return false;
    }
    ids->push_back(id);
    if (comma == std::string_view::npos) return true;
    text.remove_prefix(comma + 1);
  }
}

}  // namespace

void HttpApi::HandleUsers(HttpExchange& exchange, const RouteCall&) {
  const std::string_view query = exchange.request().query;
  // Both forms answer {"users":[profile]}.
  auto answer = [](ChatShard& chat, const DeferredHttp& deferred,
                   const storage::Result<std::vector<storage::Profile>>& result) {
    HttpApi& self = chat.http_api();
    if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
    self.Answer(deferred, 200, ProfilesBody("users", *result));
  };
  if (const std::optional<std::string_view> ids_param = http::QueryParam(query, "ids")) {
    // Decoded: URL encoders (URLSearchParams among them) escape the commas.
    std::string decoded;
    std::vector<int64_t> ids;
    if (http::QueryParam(query, "q") || !http::PercentDecode(*ids_param, &decoded) ||
        !ParseIds(decoded, &ids)) {
      return exchange.RespondError(400, "ids must be 1 to 100 positive integers, comma-separated");
    }
    DeferredHttp deferred = exchange.Defer();
    service_.store().FindProfiles(
        std::move(ids), service_.ReplyOn<std::vector<storage::Profile>>(
                            shard_.id(), [deferred, answer](ChatShard& chat, auto result) {
                              answer(chat, deferred, result);
                            }));
    return;
  }
  const std::optional<std::string_view> q = http::QueryParam(query, "q");
  if (!q) {
    return exchange.RespondError(
        400, "missing q (the start of a username or of a display name's word) or ids");
  }
  // Decoded: a display name's word may be any UTF-8 (the store's lookups bound what it matches:
  // storage/profile_name.h).
  std::string prefix;
  if (!http::PercentDecode(*q, &prefix) || prefix.empty() || prefix.size() > kMaxQueryBytes ||
      !ValidQuery(prefix)) {
    return exchange.RespondError(400,
                                 "q must be 1 to 64 bytes of UTF-8 text, no control characters");
  }
  uint32_t limit = kDefaultUserSearchLimit;
  if (const std::optional<std::string_view> value = http::QueryParam(query, "limit")) {
    auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), limit);
    if (ec != std::errc() || end != value->data() + value->size() || limit < 1 ||
        limit > kMaxUserSearchLimit) {
      return exchange.RespondError(400, "limit must be 1 to 50");
    }
  }
  DeferredHttp deferred = exchange.Defer();
  service_.store().SearchProfiles(
      std::move(prefix), limit,
      service_.ReplyOn<std::vector<storage::Profile>>(
          shard_.id(),
          [deferred, answer](ChatShard& chat, auto result) { answer(chat, deferred, result); }));
}

}  // namespace ringcast::chat
