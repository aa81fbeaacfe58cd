// The profile family (proto/PROTOCOL.md, "Profiles", "Users" and "Blocks"):
//   GET    /api/me   {"id","username","email","display_name","avatar","avatar_thumb","status"}
//   PATCH  /api/me   {"email"?, "display_name"?, "avatar"? (an upload id), "status"?}: each
//                    given field set (null clears it); answers as GET
//   GET    /api/users?q=PREFIX[&limit=N], GET /api/users?ids=1,2,3: how a client finds someone
//          to start a conversation with, by the start of their username or of a word of their
//          display name, and how it names the members and senders it knows only by id
//   POST   /api/blocks {"user"}, GET /api/blocks, DELETE /api/blocks/{user}
// A profile change goes to every shard (and node) as the profile event, for the sessions of the
// user and of their contacts (DeliverUserNews, chat/sessions/user_news.h).
#include <simdjson.h>

#include <charconv>

#include "chat/json_body.h"
#include "chat/ops/routes.h"
#include "chat/sessions/user_news.h"
#include "core/runtime/shard.h"
#include "notify/email/smtp.h"
#include "proto/json_writer.h"
#include "proto/url_path.h"
#include "storage/profile_name.h"

namespace ringcast::chat {

namespace ondemand = simdjson::ondemand;

std::optional<std::string> ParseStringFields(std::string_view body,
                                             std::initializer_list<std::string_view> names,
                                             StringFields* out) {
  const std::span<const std::string_view> known(names.begin(), names.size());
  return ForEachField(body, known, [&](int index, ondemand::value value) {
    std::optional<std::string> text;
    auto fault = ReadStringOrNull(value, known[index], &text);
    if (!fault) out->emplace_back(std::string(known[index]), std::move(text));
    return fault;
  });
}

void WriteProfile(JsonWriter& writer, const storage::Profile& profile) {
  auto optional = [&](std::string_view key, const std::optional<std::string>& value) {
    writer.Key(key);
    if (value) {
      writer.String(*value);
    } else {
      writer.Null();
    }
  };
  writer.Field("id", profile.id).Field("username", profile.username);
  optional("display_name", profile.display_name);
  // The file routes (chat/api/upload_api.cc) serve an avatar to any signed-in user.
  WriteAvatar(writer, profile.avatar);
  optional("status", profile.status);
  if (profile.deleted) writer.Field("deleted", true);
}

std::string ProfilesBody(std::string_view key, const std::vector<storage::Profile>& profiles) {
  return ListBody(key, profiles, [](JsonWriter& writer, const storage::Profile& profile) {
    writer.BeginObject();
    WriteProfile(writer, profile);
    writer.EndObject();
  });
}

namespace {

// A store call's list of users, answered as ProfilesBody(key, ...).
storage::Reply<std::vector<storage::Profile>> ProfilesReply(HttpApi& api,
                                                            const DeferredHttp& deferred,
                                                            std::string_view key) {
  return StoreReply<std::vector<storage::Profile>>(
      api, deferred,
      [key](HttpApi& self, const DeferredHttp& deferred,
            const std::vector<storage::Profile>& profiles) {
        self.Answer(deferred, 200, ProfilesBody(key, profiles));
      });
}

// {"user": 1234}
std::optional<std::string> ParseBlockBody(std::string_view body, int64_t* user) {
  static constexpr std::string_view kFields[] = {"user"};
  *user = 0;
  auto error = ForEachField(body, kFields, [&](int, simdjson::ondemand::value value) {
    if (value.get_int64().get(*user) != simdjson::SUCCESS || *user < 1) {
      return std::optional<std::string>(
          FieldError("user", "must be a positive integer (a user id)"));
    }
    return std::optional<std::string>();
  });
  if (error) return error;
  if (*user < 1) return "missing field \"user\"";
  return std::nullopt;
}

constexpr size_t kMaxDisplayName = 64;  // Characters (code points), after trimming.
constexpr size_t kMaxStatus = 140;

size_t CodePoints(std::string_view text) {
  size_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

// C0 controls, DEL and C1 controls (U+0080–U+009F: 0xC2 0x80–0x9F in UTF-8): a name or status
// shows as text on one line, and these would move or hide what follows them.
bool HasControl(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) return true;
    if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
      return true;
    }
  }
  return false;
}

std::string_view TrimSpaces(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

// A display name or status as given: trimmed of spaces, then checked. Empty after trimming
// clears it (as null does). A reason when refused.
std::optional<std::string> CheckText(std::optional<std::string>& value, std::string_view field,
                                     size_t max_chars) {
  if (!value) return std::nullopt;
  const std::string_view trimmed = TrimSpaces(*value);
  // Appended piece by piece: GCC 12's -Wrestrict misfires on `"literal" + std::string` (bug
  // 105329).
  std::string reason = "\"";
  reason += field;
  if (HasControl(trimmed)) return reason += "\" must not hold control characters";
  if (CodePoints(trimmed) > max_chars) {
    reason += "\" must be at most ";
    reason += std::to_string(max_chars);
    return reason += " characters";
  }
  if (trimmed.empty()) {
    value.reset();
  } else {
    *value = std::string(trimmed);
  }
  return std::nullopt;
}

std::string AccountBody(const storage::Account& account, const storage::Profile& profile) {
  JsonWriter writer;
  writer.BeginObject();
  WriteProfile(writer, profile);
  writer.Key("email");
  if (account.email) {
    writer.String(*account.email);
  } else {
    writer.Null();
  }
  return writer.EndObject().Take();
}

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

// The account and profile answer of GET and PATCH /api/me.
void AnswerMe(HttpApi& api, const DeferredHttp& deferred, int64_t user) {
  api.service().store().FindAccount(
      user,
      StoreReply<std::optional<storage::Account>>(
          api, deferred,
          [user](HttpApi& self, const DeferredHttp& deferred,
                 std::optional<storage::Account> account) {
            if (!account) return self.AnswerError(deferred, 404, "no such user");
            self.service().store().FindProfiles(
                {user},
                StoreReply<std::vector<storage::Profile>>(
                    self, deferred,
                    [account = std::move(*account)](HttpApi& self, const DeferredHttp& deferred,
                                                    const std::vector<storage::Profile>& profiles) {
                      if (profiles.empty() || profiles.front().deleted)
                        return self.AnswerError(deferred, 404, "no such user");
                      self.Answer(deferred, 200, AccountBody(account, profiles.front()));
                    }));
          }));
}

// The profile event, to every shard and node.
void PublishProfile(HttpApi& api, const storage::Profile& profile) {
  JsonWriter writer;
  writer.BeginObject().Field("type", "profile").Key("user").BeginObject();
  WriteProfile(writer, profile);
  TellEveryDevice(api.service(), {.kind = UserNews::Kind::kProfile,
                                  .user = profile.id,
                                  .text = writer.EndObject().EndObject().Take()});
}

void GetMe(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  AnswerMe(api, exchange.Defer(), call.auth.user);
}

void PatchMe(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  const Authenticated& auth = call.auth;
  StringFields fields;
  if (auto error = ParseStringFields(exchange.body(), {"email", "display_name", "avatar", "status"},
                                     &fields)) {
    return exchange.RespondError(400, *error);
  }
  if (fields.empty()) {
    return exchange.RespondError(400,
                                 "give at least one of \"email\", \"display_name\", \"avatar\", "
                                 "\"status\"");
  }
  std::optional<std::optional<std::string>> email;
  storage::ProfileChange change;
  for (auto& [key, value] : fields) {
    if (key == "email") {
      if (value && !notify::PlausibleEmail(*value)) {
        return exchange.RespondError(400, "email must look like name@example.org (or null)");
      }
      email = std::move(value);
    } else if (key == "display_name") {
      if (auto error = CheckText(value, key, kMaxDisplayName)) {
        return exchange.RespondError(400, *error);
      }
      if (value) change.name_words = storage::NameWords(*value);
      change.display_name = std::move(value);
    } else if (key == "avatar") {
      change.avatar = std::move(value);
    } else if (key == "status") {
      if (auto error = CheckText(value, key, kMaxStatus)) return exchange.RespondError(400, *error);
      change.status = std::move(value);
    }
  }
  const bool profile_changes = change.display_name || change.avatar || change.status;
  DeferredHttp deferred = exchange.Defer();
  // The profile first (it may be refused), then the email; each answers the account as GET.
  auto set_email = [email = std::move(email), user = auth.user](HttpApi& self,
                                                                const DeferredHttp& deferred) {
    if (!email) return AnswerMe(self, deferred, user);
    self.service().store().SetEmail(
        user, *email,
        StoreReply<bool>(self, deferred,
                         [user](HttpApi& self, const DeferredHttp& deferred, bool set) {
                           if (!set) return self.AnswerError(deferred, 404, "no such user");
                           AnswerMe(self, deferred, user);
                         }));
  };
  if (!profile_changes) return set_email(api, deferred);
  api.service().store().UpdateProfile(
      auth.user, std::move(change),
      StoreReply<storage::ProfileOutcome>(
          api, deferred,
          [set_email = std::move(set_email)](HttpApi& self, const DeferredHttp& deferred,
                                             const storage::ProfileOutcome& outcome) mutable {
            switch (outcome.denial) {
              case storage::Denial::kNone:
                break;
              case storage::Denial::kForbidden:
                return self.AnswerError(deferred, 400,
                                        "avatar must be an image you uploaded (with a thumbnail)");
              default:
                return self.AnswerError(deferred, 404, "no such user");
            }
            PublishProfile(self, outcome.profile);
            set_email(self, deferred);
          }));
}

void HandleUsers(HttpApi& api, HttpExchange& exchange, const RouteCall&) {
  const std::string_view query = exchange.request().query;
  // Both forms answer {"users":[profile]}.
  if (const std::optional<std::string_view> ids_param = http::QueryParam(query, "ids")) {
    // Decoded: URL encoders (URLSearchParams among them) escape the commas.
    std::string decoded;
    std::vector<int64_t> ids;
    if (http::QueryParam(query, "q") || !http::PercentDecode(*ids_param, &decoded) ||
        !ParseIds(decoded, &ids)) {
      return exchange.RespondError(400, "ids must be 1 to 100 positive integers, comma-separated");
    }
    DeferredHttp deferred = exchange.Defer();
    api.service().store().FindProfiles(std::move(ids), ProfilesReply(api, deferred, "users"));
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
  api.service().store().SearchProfiles(std::move(prefix), limit,
                                       ProfilesReply(api, deferred, "users"));
}

void ListBlocks(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  DeferredHttp deferred = exchange.Defer();
  api.service().store().ListBlocks(call.auth.user, ProfilesReply(api, deferred, "blocks"));
}

// POST /api/blocks (`on`, the user in the body) and DELETE /api/blocks/{user}.
void SetBlock(HttpApi& api, HttpExchange& exchange, const RouteCall& call, bool on) {
  const Authenticated& auth = call.auth;
  int64_t other = call.user;
  if (on) {
    if (auto error = ParseBlockBody(exchange.body(), &other)) {
      return exchange.RespondError(400, *error);
    }
  }
  if (other == auth.user) return exchange.RespondError(400, "you cannot block yourself");
  DeferredHttp deferred = exchange.Defer();
  api.service().store().SetBlock(
      auth.user, other, on, NowMs(),
      StoreReply<storage::Denial>(
          api, deferred,
          [user = auth.user, other, on](HttpApi& self, const DeferredHttp& deferred,
                                        storage::Denial denial) {
            if (denial != storage::Denial::kNone) {
              return self.AnswerError(deferred, 404, "no such user");
            }
            // A 1:1 call between them ends now, for both (the block is committed: an accept
            // or a rejoin that checks the store from here on is refused too).
            if (on) CallRegistry::EndBlockedCall(self.service(), self.shard().id(), user, other);
            JsonWriter writer;
            self.Answer(
                deferred, on ? 201 : 200,
                writer.BeginObject().Field(on ? "blocked" : "unblocked", other).EndObject().str());
          }));
}

}  // namespace

std::span<const HttpRoute> ProfileRoutes() {
  using http::Method;
  static constexpr HttpRoute kRows[] = {
      {Method::kGet, "/api/me", RouteAccess::kBearer, OnApi<&GetMe>},
      {Method::kPatch, "/api/me", RouteAccess::kBearer, OnApi<&PatchMe>},
      {Method::kGet, "/api/users", RouteAccess::kBearer, OnApi<&HandleUsers>},
      {Method::kGet, "/api/blocks", RouteAccess::kBearer, OnApi<&ListBlocks>},
      {Method::kPost, "/api/blocks", RouteAccess::kBearer, OnApiWith<&SetBlock, true>},
      {Method::kDelete, "/api/blocks/{user}", RouteAccess::kBearer, OnApiWith<&SetBlock, false>},
  };
  return kRows;
}

}  // namespace ringcast::chat
