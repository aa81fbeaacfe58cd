// The account family (proto/PROTOCOL.md, "Accounts" and "Account control"):
//   POST   /api/register           {"username","password"}: a new account
//   POST   /api/logout             the caller's login ended (its access and refresh tokens)
//   POST   /api/me/password        {"current_password","new_password"}: every other login ends
//   GET    /api/me/sessions        the caller's logins (one per refresh-token family)
//   DELETE /api/me/sessions/{id}   one login ended, as logout ends the caller's
//   DELETE /api/me                 {"password"}: the account deleted (storage/SCHEMA.md says what
//                                  goes and what stays)
// A login that ends loses its refresh tokens and its access tokens at once, on every shard and
// node, through logout's revocation path: the family id is revoked, which refuses every token
// id "<family>.*" (chat/sessions/revoked_tokens.h), and the connections holding one close.
// Password checks count as login attempts: a wrong password slows the next tries as a wrong
// login does (login_routes.cc). Registrations are counted per client address over the service.
#include "chat/auth/password.h"
#include "chat/json_body.h"
#include "chat/ops/routes.h"
#include "chat/sessions/user_news.h"
#include "core/net/client_address.h"
#include "core/runtime/shard.h"
#include "proto/json_writer.h"

namespace ringcast::chat {
namespace {

// The password rules of register, and of a password change.
constexpr size_t kMinPassword = 8;
constexpr size_t kMaxPassword = 1024;
// A password check's answer while the login workers' queue is full.
constexpr std::string_view kPasswordChecksBusy =
    "too many password checks in progress (--workers-login-queue), retry later";

// After the per-address count: 429, or the password hash (a kRegistration worker task, 503
// past --max-pending-registrations), then the store.
void ContinueRegister(HttpApi& api, const DeferredHttp& deferred, Credentials credentials,
                      int64_t retry_after) {
  if (retry_after > 0) {
    return api.AnswerRetryLater(
        deferred, 429, "too many registrations from this address, retry later", retry_after);
  }
  auth::ScryptParams params{.log2_n = api.config().password_cost};
  const bool queued = api.shard().TryRunBlocking(
      WorkClass::kRegistration,
      [password = std::move(credentials.password), params] {
        return auth::HashPassword(password, params);
      },
      [&api, deferred, username = std::move(credentials.username)](Shard&,
                                                                   auth::HashResult hashed) {
        if (!hashed.ok()) return api.AnswerError(deferred, 400, hashed.reason);
        api.service().store().CreateUser(
            username, std::move(hashed.encoded), NowMs(),
            StoreReply<std::pair<storage::Denial, int64_t>>(
                api, deferred, [](HttpApi& self, const DeferredHttp& deferred, auto created) {
                  if (created.first == storage::Denial::kTaken) {
                    return self.AnswerError(deferred, 409, "username already taken");
                  }
                  JsonWriter writer;
                  self.Answer(
                      deferred, 201,
                      writer.BeginObject().Field("user_id", created.second).EndObject().str());
                }));
      });
  if (!queued) {
    api.AnswerRetryLater(
        deferred, 503,
        "too many registrations in progress (--max-pending-registrations), retry later", 1);
  }
}

void HandleRegister(HttpApi& api, HttpExchange& exchange) {
  std::optional<Credentials> read =
      ReadCredentials(exchange, 400, "username must be 1 to 32 of A-Z a-z 0-9 _ . -");
  if (!read) return;
  Credentials credentials = std::move(*read);
  if (credentials.password.size() < kMinPassword || credentials.password.size() > kMaxPassword) {
    return exchange.RespondError(400, "password must be 8 to 1024 bytes");
  }
  DeferredHttp deferred = exchange.Defer();
  // Counted per client address over the whole service, as logins are (HandleLogin): only
  // requests that would cost a password hash count.
  api.ClientAddressOf(exchange, [&api, deferred, credentials](std::string address) {
    api.attempts().Count(
        "register:ip:" +
            (address.empty() ? "?" : AddressLimitKey(address, api.config().ipv6_prefix)),
        api.config().register_rate_ip,
        [deferred, credentials = std::move(credentials)](ChatShard& chat,
                                                         int64_t retry_after) mutable {
          ContinueRegister(chat.http_api(), deferred, std::move(credentials), retry_after);
        });
  });
}

void HandleLogout(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  const Authenticated& auth = call.auth;
  DeferredHttp deferred = exchange.Defer();
  api.service().store().RevokeToken(
      auth.jti, auth.exp * 1000,
      StoreReply<bool>(api, deferred, [auth](HttpApi& self, const DeferredHttp& deferred, bool) {
        TellEveryDevice(self.service(), {.kind = UserNews::Kind::kRevoked,
                                         .user = auth.user,
                                         .text = auth.jti,
                                         .until_ms = auth.exp * 1000});
        // The refresh tokens of its login go too (login_routes.cc); a token issued before
        // refresh tokens has no family.
        std::string family = FamilyOf(auth.jti);
        if (family.empty()) return self.Answer(deferred, 200, R"({"revoked":true})");
        self.service().store().RevokeRefreshFamily(
            std::move(family),
            StoreReply<bool>(self, deferred, [](HttpApi& self, const DeferredHttp& deferred, bool) {
              self.Answer(deferred, 200, R"({"revoked":true})");
            }));
      }));
}

// Checks `password` against `user`'s, counted as a login attempt (its failures slow further
// tries as wrong logins do); `then(api)` back here once it matches. Answers 429, 403 or a store
// failure itself.
void CheckPassword(HttpApi& api, const DeferredHttp& deferred, int64_t user, std::string address,
                   std::string password, storage::UniqueFunction<void(HttpApi&)> then) {
  api.service().store().FindAccount(
      user,
      StoreReply<std::optional<storage::Account>>(
          api, deferred,
          [address = std::move(address), password = std::move(password), then = std::move(then)](
              HttpApi& self, const DeferredHttp& deferred, auto account) mutable {
            if (!account) return self.AnswerError(deferred, 404, "no such user");
            std::vector<AttemptCounter::Key> keys = LoginKeys(self, account->username, address);
            self.attempts().Check(
                keys, [deferred, keys, username = account->username, password = std::move(password),
                       then = std::move(then)](ChatShard& chat, int64_t retry_after) mutable {
                  HttpApi& self = chat.http_api();
                  if (retry_after > 0) {
                    return self.AnswerRetryLater(
                        deferred, 429, "too many wrong passwords, retry later", retry_after);
                  }
                  self.service().store().FindLogin(
                      username,
                      StoreReply<std::optional<storage::UserLogin>>(
                          self, deferred,
                          [keys = std::move(keys), password = std::move(password),
                           then = std::move(then)](HttpApi& self, const DeferredHttp& deferred,
                                                   auto login) mutable {
                            if (!login) return self.AnswerError(deferred, 404, "no such user");
                            std::string hash = std::move(login->password_hash);
                            const bool queued = self.shard().TryRunBlocking(
                                WorkClass::kLogin,
                                [password = std::move(password), hash = std::move(hash)] {
                                  return auth::VerifyPassword(password, hash) ==
                                         auth::VerifyOutcome::kMatch;
                                },
                                [&self, deferred, keys = std::move(keys), then = std::move(then)](
                                    Shard&, bool match) mutable {
                                  if (!match) {
                                    self.attempts().Fail(std::move(keys));
                                    return self.AnswerError(deferred, 403, "wrong password");
                                  }
                                  then(self);
                                });
                            if (!queued) {
                              self.AnswerRetryLater(deferred, 503, kPasswordChecksBusy, 1);
                            }
                          }));
                });
          }));
}

void RevokeFamiliesLive(HttpApi& api, int64_t user, const std::vector<std::string>& families) {
  const int64_t until_ms = NowMs() + int64_t{api.config().token_ttl_s} * 1000;
  for (const std::string& family : families) {
    TellEveryDevice(
        api.service(),
        {.kind = UserNews::Kind::kRevoked, .user = user, .text = family, .until_ms = until_ms});
  }
}

// Ends logins (storage::ProfileStore::EndLogins) and revokes their access tokens live, on every
// shard and node, as logout does; `then(api, families)` once the store has committed.
void EndLogins(HttpApi& api, const DeferredHttp& deferred, int64_t user,
               storage::LoginSelection which,
               storage::UniqueFunction<void(HttpApi&, std::vector<std::string>)> then) {
  const int64_t now = NowMs();
  // Every access token of these families expires within --token-ttl: revoked until then.
  api.service().store().EndLogins(
      user, std::move(which), now + int64_t{api.config().token_ttl_s} * 1000, now,
      StoreReply<std::vector<std::string>>(
          api, deferred,
          [user, then = std::move(then)](HttpApi& self, const DeferredHttp&,
                                         std::vector<std::string> families) mutable {
            RevokeFamiliesLive(self, user, families);
            then(self, std::move(families));
          }));
}

void HandlePassword(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
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
  api.ClientAddressOf(exchange, [&api, deferred, auth, current = std::move(*current),
                                 next = std::move(*next)](std::string address) {
    CheckPassword(
        api, deferred, auth.user, std::move(address), current,
        [deferred, auth, next](HttpApi& self) {
          auth::ScryptParams params{.log2_n = self.config().password_cost};
          const bool queued = self.shard().TryRunBlocking(
              WorkClass::kLogin, [next, params] { return auth::HashPassword(next, params); },
              [&self, deferred, auth](Shard&, auth::HashResult hashed) {
                if (!hashed.ok()) return self.AnswerError(deferred, 400, hashed.reason);
                self.service().store().SetPasswordHash(
                    auth.user, std::move(hashed.encoded),
                    StoreReply<bool>(
                        self, deferred,
                        [auth](HttpApi& self, const DeferredHttp& deferred, bool set) {
                          if (!set) return self.AnswerError(deferred, 404, "no such user");
                          // The caller's login stays; a token from before refresh tokens has no
                          // family, and then every login ends but the caller's token.
                          storage::LoginSelection others;
                          if (std::string family = FamilyOf(auth.jti); !family.empty()) {
                            others.keep = std::move(family);
                          }
                          EndLogins(self, deferred, auth.user, std::move(others),
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
            self.AnswerRetryLater(deferred, 503, kPasswordChecksBusy, 1);
          }
        });
  });
}

void ListSessions(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  const Authenticated& auth = call.auth;
  DeferredHttp deferred = exchange.Defer();
  api.service().store().ListLogins(
      auth.user, NowMs(),
      StoreReply<std::vector<storage::LoginRecord>>(
          api, deferred,
          [current = FamilyOf(auth.jti)](HttpApi& self, const DeferredHttp& deferred,
                                         const std::vector<storage::LoginRecord>& logins) {
            JsonWriter writer;
            writer.BeginObject().Key("sessions").BeginArray();
            for (const storage::LoginRecord& login : logins) {
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

void EndSession(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  storage::LoginSelection one;
  one.only = std::string(call.text);
  DeferredHttp deferred = exchange.Defer();
  EndLogins(api, deferred, call.auth.user, std::move(one),
            [deferred](HttpApi& self, std::vector<std::string> ended) {
              if (ended.empty()) return self.AnswerError(deferred, 404, "no such session");
              self.Answer(deferred, 200, R"({"revoked":true})");
            });
}

// A deleted account leaves group `conv`; as its owner, it first hands ownership on.
void LeaveGroupOf(HttpApi& api, int64_t conv, int64_t user) {
  api.service().store().RemoveMember(
      conv, user, user, NowMs(),
      api.service().ReplyOn<storage::MembershipOutcome>(
          api.shard().id(), [conv, user](ChatShard& chat, auto removed) {
            HttpApi& self = chat.http_api();
            if (!removed.ok()) return;
            if (removed->denial == storage::Denial::kNone && removed->changed) {
              return AfterGroupChange(self, *removed, {user});
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
            self.service().store().ChangeGroup(
                std::move(change),
                self.service().ReplyOn<storage::MembershipOutcome>(
                    self.shard().id(), [conv, user](ChatShard& chat, auto moved) {
                      HttpApi& self = chat.http_api();
                      if (!moved.ok() || moved->denial != storage::Denial::kNone) return;
                      if (moved->changed) AfterGroupChange(self, *moved, {});
                      LeaveGroupOf(self, conv, user);
                    }));
          }));
}

void DeleteAccount(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  const Authenticated& auth = call.auth;
  StringFields fields;
  if (auto error = ParseStringFields(exchange.body(), {"password"}, &fields)) {
    return exchange.RespondError(400, *error);
  }
  if (fields.empty() || !fields[0].second) {
    return exchange.RespondError(400, "give \"password\" to delete the account");
  }
  DeferredHttp deferred = exchange.Defer();
  api.ClientAddressOf(exchange, [&api, deferred, user = auth.user,
                                 password = std::move(*fields[0].second)](std::string address) {
    CheckPassword(api, deferred, user, std::move(address), password,
                  [deferred, user](HttpApi& self) {
                    const int64_t now = NowMs();
                    self.service().store().DeleteAccount(
                        user, now + int64_t{self.config().token_ttl_s} * 1000, now,
                        StoreReply<storage::DeletedAccount>(
                            self, deferred,
                            [user](HttpApi& self, const DeferredHttp& deferred,
                                   const storage::DeletedAccount& deleted) {
                              if (!deleted.found)
                                return self.AnswerError(deferred, 404, "no such user");
                              RevokeFamiliesLive(self, user, deleted.families);
                              // Each group loses the member as a leave does: its members are
                              // told.
                              for (int64_t conv : deleted.groups) LeaveGroupOf(self, conv, user);
                              self.Answer(deferred, 200, R"({"deleted":true})");
                            }));
                  });
  });
}

}  // namespace

std::span<const HttpRoute> AccountRoutes() {
  using http::Method;
  static constexpr HttpRoute kRows[] = {
      {Method::kPost, "/api/register", RouteAccess::kOwn, OnApi<&HandleRegister>},
      {Method::kPost, "/api/logout", RouteAccess::kBearer, OnApi<&HandleLogout>},
      {Method::kDelete, "/api/me", RouteAccess::kBearer, OnApi<&DeleteAccount>},
      {Method::kPost, "/api/me/password", RouteAccess::kBearer, OnApi<&HandlePassword>},
      {Method::kGet, "/api/me/sessions", RouteAccess::kBearer, OnApi<&ListSessions>},
      {Method::kDelete, "/api/me/sessions/{id}", RouteAccess::kBearer, OnApi<&EndSession>},
  };
  return kRows;
}

}  // namespace ringcast::chat
