// HttpApi's account and profile routes (proto/PROTOCOL.md, "Account" and "Profiles"):
//   GET    /api/me   {"id","username","email","display_name","avatar","avatar_thumb","status"}
//   PATCH  /api/me   {"email"?, "display_name"?, "avatar"? (an upload id), "status"?}: each
//                    given field set (null clears it); answers as GET
//   DELETE /api/me   {"password"}: the account deleted (http_api_account.cc)
// A profile change goes to every shard (and node) as the profile event, for the sessions of the
// user and of their contacts (SessionHost::OnProfile).
#include "chat/api/http_api.h"
#include "chat/chat_shard.h"
#include "chat/json_body.h"
#include "chat/service.h"
#include "chat/sessions/user_news.h"
#include "core/runtime/shard.h"
#include "notify/email/smtp.h"
#include "proto/json_writer.h"
#include "storage/profile_name.h"

namespace ringcast::chat {
namespace {

namespace ondemand = simdjson::ondemand;

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

}  // namespace

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
  // The file routes (http_api_uploads.cc) serve an avatar to any signed-in user.
  WriteAvatar(writer, profile.avatar);
  optional("status", profile.status);
  if (profile.deleted) writer.Field("deleted", true);
}

std::string ProfilesBody(std::string_view key, const std::vector<storage::Profile>& profiles) {
  JsonWriter writer;
  writer.BeginObject().Key(key).BeginArray();
  for (const storage::Profile& profile : profiles) {
    writer.BeginObject();
    WriteProfile(writer, profile);
    writer.EndObject();
  }
  return writer.EndArray().EndObject().Take();
}

void HttpApi::AnswerMe(const DeferredHttp& deferred, int64_t user) {
  service_.store().FindAccount(
      user, service_.ReplyOn<std::optional<storage::Account>>(
                shard_.id(), [deferred, user](ChatShard& chat, auto account) {
                  HttpApi& self = chat.http_api();
                  if (!account.ok()) return self.AnswerStoreFailure(deferred, account.status());
                  if (!*account) return self.AnswerError(deferred, 404, "no such user");
                  self.service_.store().FindProfiles(
                      {user}, self.service_.ReplyOn<std::vector<storage::Profile>>(
                                  self.shard_.id(), [deferred, account = std::move(**account)](
                                                        ChatShard& chat, auto profiles) {
                                    HttpApi& self = chat.http_api();
                                    if (!profiles.ok())
                                      return self.AnswerStoreFailure(deferred, profiles.status());
                                    if (profiles->empty() || profiles->front().deleted)
                                      return self.AnswerError(deferred, 404, "no such user");
                                    self.Answer(deferred, 200,
                                                AccountBody(account, profiles->front()));
                                  }));
                }));
}

void HttpApi::PublishProfile(const storage::Profile& profile) {
  JsonWriter writer;
  writer.BeginObject().Field("type", "profile").Key("user").BeginObject();
  WriteProfile(writer, profile);
  TellEveryDevice(service_, {.kind = UserNews::Kind::kProfile,
                             .user = profile.id,
                             .text = writer.EndObject().EndObject().Take()});
}

void HttpApi::GetMe(HttpExchange& exchange, const RouteCall& call) {
  AnswerMe(exchange.Defer(), call.auth.user);
}

void HttpApi::PatchMe(HttpExchange& exchange, const RouteCall& call) {
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
    if (!email) return self.AnswerMe(deferred, user);
    self.service_.store().SetEmail(
        user, *email,
        self.service_.ReplyOn<bool>(self.shard_.id(), [deferred, user](ChatShard& chat, auto set) {
          HttpApi& self = chat.http_api();
          if (!set.ok()) return self.AnswerStoreFailure(deferred, set.status());
          if (!*set) return self.AnswerError(deferred, 404, "no such user");
          self.AnswerMe(deferred, user);
        }));
  };
  if (!profile_changes) return set_email(*this, deferred);
  service_.store().UpdateProfile(
      auth.user, std::move(change),
      service_.ReplyOn<storage::ProfileOutcome>(
          shard_.id(),
          [deferred, set_email = std::move(set_email)](ChatShard& chat, auto outcome) mutable {
            HttpApi& self = chat.http_api();
            if (!outcome.ok()) return self.AnswerStoreFailure(deferred, outcome.status());
            switch (outcome->denial) {
              case storage::Denial::kNone:
                break;
              case storage::Denial::kForbidden:
                return self.AnswerError(deferred, 400,
                                        "avatar must be an image you uploaded (with a thumbnail)");
              default:
                return self.AnswerError(deferred, 404, "no such user");
            }
            self.PublishProfile(outcome->profile);
            set_email(self, deferred);
          }));
}

}  // namespace ringcast::chat
