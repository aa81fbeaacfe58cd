// HttpApi's account control (proto/PROTOCOL.md, "Account control"):
//   POST   /api/me/password        {"current_password","new_password"}: every other login ends
//   GET    /api/me/sessions        the caller's logins (one per refresh-token family)
//   DELETE /api/me/sessions/{id}   one login ended, as logout ends the caller's
//   DELETE /api/me                 {"password"}: the account deleted (storage/SCHEMA.md says what
//                                  goes and what stays)
//   POST   /api/blocks {"user"}, GET /api/blocks, DELETE /api/blocks/{user}
// A login that ends loses its refresh tokens and its access tokens at once, on every shard and
// node, through logout's revocation path: the family id is revoked, which refuses every token
// id "<family>.*" (chat/sessions/revoked_tokens.h), and the connections holding one close.
// Password checks count as login attempts: a wrong password slows the next tries as a wrong
// login does (http_api_login.cc).
#include "chat/api/http_api.h"
#include "chat/auth/password.h"
#include "chat/chat_shard.h"
#include "chat/json_body.h"
#include "chat/service.h"
#include "chat/sessions/user_news.h"
#include "core/net/client_address.h"
#include "core/runtime/shard.h"
#include "proto/json_writer.h"

namespace ringcast::chat {
namespace {

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

}  // namespace

void HttpApi::CheckPassword(const DeferredHttp& deferred, int64_t user, std::string address,
                            std::string password, storage::UniqueFunction<void(HttpApi&)> then) {
  service_.store().FindAccount(
      user,
      service_.ReplyOn<std::optional<storage::Account>>(
          shard_.id(), [deferred, address = std::move(address), password = std::move(password),
                        then = std::move(then)](ChatShard& chat, auto account) mutable {
            HttpApi& self = chat.http_api();
            if (!account.ok()) return self.AnswerStoreFailure(deferred, account.status());
            if (!*account) return self.AnswerError(deferred, 404, "no such user");
            std::vector<LoginKey> keys = self.LoginKeys((*account)->username, address);
            self.CheckAttempts(
                keys, 0,
                [deferred, keys, username = (*account)->username, password = std::move(password),
                 then = std::move(then)](HttpApi& self, int64_t retry_after) mutable {
                  if (retry_after > 0) {
                    return self.AnswerError(deferred, 429, "too many wrong passwords, retry later",
                                            "Retry-After: " + std::to_string(retry_after) + "\r\n");
                  }
                  self.service_.store().FindLogin(
                      username,
                      self.service_.ReplyOn<std::optional<storage::UserLogin>>(
                          self.shard_.id(),
                          [deferred, keys = std::move(keys), password = std::move(password),
                           then = std::move(then)](ChatShard& chat, auto login) mutable {
                            HttpApi& self = chat.http_api();
                            if (!login.ok())
                              return self.AnswerStoreFailure(deferred, login.status());
                            if (!*login) return self.AnswerError(deferred, 404, "no such user");
                            std::string hash = std::move((*login)->password_hash);
                            const bool queued = self.shard_.TryRunBlocking(
                                WorkClass::kLogin,
                                [password = std::move(password), hash = std::move(hash)] {
                                  return auth::VerifyPassword(password, hash) ==
                                         auth::VerifyOutcome::kMatch;
                                },
                                [&self, deferred, keys = std::move(keys), then = std::move(then)](
                                    Shard&, bool match) mutable {
                                  if (!match) {
                                    self.CountFailures(std::move(keys));
                                    return self.AnswerError(deferred, 403, "wrong password");
                                  }
                                  then(self);
                                });
                            if (!queued) {
                              self.AnswerError(deferred, 503,
                                               "too many password checks in progress "
                                               "(--workers-login-queue), retry later",
                                               "Retry-After: 1\r\n");
                            }
                          }));
                });
          }));
}

void HttpApi::RevokeFamiliesLive(int64_t user, const std::vector<std::string>& families) {
  const int64_t until_ms = NowMs() + int64_t{config_.token_ttl_s} * 1000;
  for (const std::string& family : families) {
    TellEveryDevice(
        service_,
        {.kind = UserNews::Kind::kRevoked, .user = user, .text = family, .until_ms = until_ms});
  }
}

void HttpApi::EndLogins(const DeferredHttp& deferred, int64_t user, storage::LoginSelection which,
                        storage::UniqueFunction<void(HttpApi&, std::vector<std::string>)> then) {
  const int64_t now = NowMs();
  // Every access token of these families expires within --token-ttl: revoked until then.
  service_.store().EndLogins(user, std::move(which), now + int64_t{config_.token_ttl_s} * 1000, now,
                             service_.ReplyOn<std::vector<std::string>>(
                                 shard_.id(), [deferred, user, then = std::move(then)](
                                                  ChatShard& chat, auto families) mutable {
                                   HttpApi& self = chat.http_api();
                                   if (!families.ok())
                                     return self.AnswerStoreFailure(deferred, families.status());
                                   self.RevokeFamiliesLive(user, *families);
                                   then(self, std::move(*families));
                                 }));
}

void HttpApi::HandlePassword(HttpExchange& exchange, const RouteCall& call) {
  const Authenticated& auth = call.auth;
  StringFields fields;
  if (auto error =
          ParseStringFields(exchange.body(), {"current_password", "new_password"}, &fields)) {
    return exchange.RespondError(400, *error);
  }
  std::optional<std::string> current, next;
  for (auto& [key, value] : fields) (key == "current_password" ? current : next) = std::move(value);
  if (!current || !next) {
    return exchange.RespondError(400, "give \"current_password\" and \"new_password\"");
  }
  if (next->size() < kMinPassword || next->size() > kMaxPassword) {
    return exchange.RespondError(400, "new_password must be 8 to 1024 bytes");
  }
  DeferredHttp deferred = exchange.Defer();
  ForwardedHeaders forwarded = ForwardedHeaders::From(exchange.request(), config_.trusted_proxies);
  shard_.PeerAddress(exchange.connection(), [this, deferred, auth, current = std::move(*current),
                                             next = std::move(*next),
                                             forwarded = std::move(forwarded)](std::string peer) {
    CheckPassword(
        deferred, auth.user, ClientAddress(peer, forwarded, config_.trusted_proxies), current,
        [deferred, auth, next](HttpApi& self) {
          auth::ScryptParams params{.log2_n = self.config_.password_cost};
          const bool queued = self.shard_.TryRunBlocking(
              WorkClass::kLogin, [next, params] { return auth::HashPassword(next, params); },
              [&self, deferred, auth](Shard&, auth::HashResult hashed) {
                if (!hashed.ok()) return self.AnswerError(deferred, 400, hashed.reason);
                self.service_.store().SetPasswordHash(
                    auth.user, std::move(hashed.encoded),
                    self.service_.ReplyOn<bool>(self.shard_.id(), [deferred, auth](ChatShard& chat,
                                                                                   auto set) {
                      HttpApi& self = chat.http_api();
                      if (!set.ok()) return self.AnswerStoreFailure(deferred, set.status());
                      if (!*set) return self.AnswerError(deferred, 404, "no such user");
                      // The caller's login stays; a token from before refresh tokens has no
                      // family, and then every login ends but the caller's token.
                      storage::LoginSelection others;
                      if (std::string family = FamilyOf(auth.jti); !family.empty()) {
                        others.keep = std::move(family);
                      }
                      self.EndLogins(deferred, auth.user, std::move(others),
                                     [deferred](HttpApi& self, std::vector<std::string> ended) {
                                       JsonWriter writer;
                                       self.Answer(deferred, 200,
                                                   writer.BeginObject()
                                                       .Field("changed", true)
                                                       .Field("sessions_ended",
                                                              static_cast<int64_t>(ended.size()))
                                                       .EndObject()
                                                       .str());
                                     });
                    }));
              });
          if (!queued) {
            self.AnswerError(deferred, 503,
                             "too many password checks in progress (--workers-login-queue), "
                             "retry later",
                             "Retry-After: 1\r\n");
          }
        });
  });
}

void HttpApi::ListSessions(HttpExchange& exchange, const RouteCall& call) {
  const Authenticated& auth = call.auth;
  DeferredHttp deferred = exchange.Defer();
  service_.store().ListLogins(
      auth.user, NowMs(),
      service_.ReplyOn<std::vector<storage::LoginRecord>>(
          shard_.id(), [deferred, current = FamilyOf(auth.jti)](ChatShard& chat, auto logins) {
            HttpApi& self = chat.http_api();
            if (!logins.ok()) return self.AnswerStoreFailure(deferred, logins.status());
            JsonWriter writer;
            writer.BeginObject().Key("sessions").BeginArray();
            for (const storage::LoginRecord& login : *logins) {
              writer.BeginObject()
                  .Field("id", login.family)
                  .Field("created_at", login.created_at)
                  .Field("last_used_at", login.last_used_at)
                  .Field("user_agent", login.user_agent)
                  .Field("address", login.address)
                  .Field("current", login.family == current)
                  .EndObject();
            }
            self.Answer(deferred, 200, writer.EndArray().EndObject().str());
          }));
}

void HttpApi::EndSession(HttpExchange& exchange, const RouteCall& call) {
  storage::LoginSelection one;
  one.only = std::string(call.text);
  DeferredHttp deferred = exchange.Defer();
  EndLogins(deferred, call.auth.user, std::move(one),
            [deferred](HttpApi& self, std::vector<std::string> ended) {
              if (ended.empty()) return self.AnswerError(deferred, 404, "no such session");
              self.Answer(deferred, 200, R"({"revoked":true})");
            });
}

void HttpApi::DeleteAccount(HttpExchange& exchange, const RouteCall& call) {
  const Authenticated& auth = call.auth;
  StringFields fields;
  if (auto error = ParseStringFields(exchange.body(), {"password"}, &fields)) {
    return exchange.RespondError(400, *error);
  }
  if (fields.empty() || !fields[0].second) {
    return exchange.RespondError(400, "give \"password\" to delete the account");
  }
  DeferredHttp deferred = exchange.Defer();
  ForwardedHeaders forwarded = ForwardedHeaders::From(exchange.request(), config_.trusted_proxies);
  shard_.PeerAddress(exchange.connection(), [this, deferred, user = auth.user,
                                             password = std::move(*fields[0].second),
                                             forwarded = std::move(forwarded)](std::string peer) {
    CheckPassword(deferred, user, ClientAddress(peer, forwarded, config_.trusted_proxies), password,
                  [deferred, user](HttpApi& self) {
                    const int64_t now = NowMs();
                    self.service_.store().DeleteAccount(
                        user, now + int64_t{self.config_.token_ttl_s} * 1000, now,
                        self.service_.ReplyOn<storage::DeletedAccount>(
                            self.shard_.id(), [deferred, user](ChatShard& chat, auto deleted) {
                              HttpApi& self = chat.http_api();
                              if (!deleted.ok())
                                return self.AnswerStoreFailure(deferred, deleted.status());
                              if (!deleted->found)
                                return self.AnswerError(deferred, 404, "no such user");
                              self.RevokeFamiliesLive(user, deleted->families);
                              // Each group loses the member as a leave does: its members are
                              // told.
                              for (int64_t conv : deleted->groups) self.LeaveGroupOf(conv, user);
                              self.Answer(deferred, 200, R"({"deleted":true})");
                            }));
                  });
  });
}

void HttpApi::LeaveGroupOf(int64_t conv, int64_t user) {
  service_.store().RemoveMember(
      conv, user, user, NowMs(),
      service_.ReplyOn<storage::MembershipOutcome>(
          shard_.id(), [conv, user](ChatShard& chat, auto removed) {
            HttpApi& self = chat.http_api();
            if (!removed.ok()) return;
            if (removed->denial == storage::Denial::kNone && removed->changed) {
              return self.AfterGroupChange(*removed, {user});
            }
            if (removed->denial != storage::Denial::kLastOwner) return;
            // The owner's account is gone: ownership passes to the first admin (by id), or else
            // to the first other member, and then the account leaves. Alone in its group, it
            // stays (nobody is left to pass it to).
            const storage::MemberState* heir = nullptr;
            for (const storage::MemberState& member : removed->conversation.members) {
              if (member.user == user) continue;
              if (heir == nullptr ||
                  (member.role == storage::kAdminRole && heir->role != storage::kAdminRole)) {
                heir = &member;
              }
            }
            if (heir == nullptr) return;
            storage::GroupChange change{.op = storage::GroupChange::Op::kTransfer,
                                        .conv = conv,
                                        .caller = user,
                                        .user = heir->user,
                                        .now = NowMs()};
            self.service_.store().ChangeGroup(
                std::move(change), self.service_.ReplyOn<storage::MembershipOutcome>(
                                       self.shard_.id(), [conv, user](ChatShard& chat, auto moved) {
                                         HttpApi& self = chat.http_api();
                                         if (!moved.ok() || moved->denial != storage::Denial::kNone)
                                           return;
                                         if (moved->changed) self.AfterGroupChange(*moved, {});
                                         self.LeaveGroupOf(conv, user);
                                       }));
          }));
}

void HttpApi::ListBlocks(HttpExchange& exchange, const RouteCall& call) {
  DeferredHttp deferred = exchange.Defer();
  service_.store().ListBlocks(call.auth.user,
                              service_.ReplyOn<std::vector<storage::Profile>>(
                                  shard_.id(), [deferred](ChatShard& chat, auto blocked) {
                                    HttpApi& self = chat.http_api();
                                    if (!blocked.ok()) {
                                      return self.AnswerStoreFailure(deferred, blocked.status());
                                    }
                                    self.Answer(deferred, 200, ProfilesBody("blocks", *blocked));
                                  }));
}

void HttpApi::SetBlock(HttpExchange& exchange, const RouteCall& call, bool on) {
  const Authenticated& auth = call.auth;
  int64_t other = call.user;
  if (on) {
    if (auto error = ParseBlockBody(exchange.body(), &other)) {
      return exchange.RespondError(400, *error);
    }
  }
  if (other == auth.user) return exchange.RespondError(400, "you cannot block yourself");
  DeferredHttp deferred = exchange.Defer();
  service_.store().SetBlock(
      auth.user, other, on, NowMs(),
      service_.ReplyOn<storage::Denial>(
          shard_.id(), [deferred, user = auth.user, other, on](ChatShard& chat, auto denial) {
            HttpApi& self = chat.http_api();
            if (!denial.ok()) return self.AnswerStoreFailure(deferred, denial.status());
            if (*denial != storage::Denial::kNone) {
              return self.AnswerError(deferred, 404, "no such user");
            }
            // A 1:1 call between them ends now, for both (the block is committed: an accept
            // or a rejoin that checks the store from here on is refused too).
            if (on) CallRegistry::EndBlockedCall(chat.service(), self.shard_.id(), user, other);
            JsonWriter writer;
            self.Answer(
                deferred, on ? 201 : 200,
                writer.BeginObject().Field(on ? "blocked" : "unblocked", other).EndObject().str());
          }));
}

}  // namespace ringcast::chat
