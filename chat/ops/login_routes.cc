// The login family (proto/PROTOCOL.md, "Accounts" and "Tokens"): POST /api/login and
// POST /api/token/refresh.
//
// A login's limits (chat/README.md, "Login attempts"): only failures count, so a user who logs
// in is never held back by logging in, and a stranger's wrong passwords from one address slow
// that address (a backoff, then a cap) and that address's guesses at one username, never the
// right password from another address; the cap per username over every address
// (--login-rate-account) is the last resort against a guess spread over many addresses.
//
// Tokens: a login or a refresh answers a short-lived access token (--token-ttl) and a refresh
// token (--refresh-token-ttl) that POST /api/token/refresh takes once, answering a new pair; a
// refresh token used twice is a copy in someone else's hands, and its whole family (every token
// since the login) is deleted. The store keeps only the SHA-256 of a refresh token; the access
// token's jti names the family ("<family>.<random>"), so that logout revokes both.
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>

#include "chat/auth/encoding.h"
#include "chat/auth/jwt.h"
#include "chat/auth/password.h"
#include "chat/ops/routes.h"
#include "core/net/client_address.h"
#include "core/runtime/shard.h"

namespace ringcast::chat {
namespace {

std::string Lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
  return out;
}

// 128 bits for a family, 256 for a refresh token: never guessed, never repeated.
std::optional<std::string> RandomText(size_t bytes) {
  std::array<uint8_t, 32> random;
  if (bytes > random.size() || RAND_bytes(random.data(), int(bytes)) != 1) return std::nullopt;
  return auth::Base64UrlEncode(std::span<const uint8_t>(random.data(), bytes));
}

std::string Sha256Hex(std::string_view text) {
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  return auth::HexEncode(std::span<const uint8_t>(digest, size));
}

// The answer to a login or a refresh: a new access token of the family, and its refresh token.
void AnswerTokens(HttpApi& api, const DeferredHttp& deferred, int64_t user, int64_t user_created_at,
                  const std::string& family, const std::string& refresh_token) {
  const int64_t now_s = NowMs() / 1000;
  auto issued =
      auth::IssueJwt(user, now_s, api.config().token_ttl_s, api.service().secret(), family);
  if (!issued) return api.AnswerError(deferred, 500, "cannot issue a token");
  JsonWriter writer;
  api.Answer(deferred, 200,
             writer.BeginObject()
                 .Field("token", issued->token)
                 .Field("user_id", user)
                 .Field("expires_at", issued->claims.exp * 1000)
                 .Field("refresh_token", refresh_token)
                 .Field("refresh_expires_at", (now_s + api.config().refresh_token_ttl_s) * 1000)
                 .Field("instance", api.service().instance_id())
                 .Field("user_created_at", user_created_at)
                 .EndObject()
                 .str());
}

// A login's tokens: a new family, its refresh token stored first, then the answer. The login's
// User-Agent and address are kept for the sessions list (GET /api/me/sessions).
void IssueTokens(HttpApi& api, const DeferredHttp& deferred, int64_t user, int64_t user_created_at,
                 std::string user_agent, std::string address) {
  std::optional<std::string> refresh = RandomText(32);
  std::optional<std::string> family = RandomText(16);
  if (!refresh || !family) return api.AnswerError(deferred, 500, "cannot issue a token");
  const int64_t now = NowMs();
  storage::RefreshToken stored{
      .hash = Sha256Hex(*refresh),
      .user = user,
      .family = *family,
      .expires_at_ms = now + int64_t{api.config().refresh_token_ttl_s} * 1000};
  // The login's row (the sessions list) once its first token is stored: a login is listed only
  // while a refresh token of its family lives.
  storage::LoginRecord login{.family = *family,
                             .user = user,
                             .created_at = now,
                             .last_used_at = now,
                             .user_agent = std::move(user_agent),
                             .address = std::move(address)};
  api.service().store().StoreRefreshToken(
      std::move(stored), now,
      StoreReply<bool>(
          api, deferred,
          [user, user_created_at, family = *family, refresh = std::move(*refresh),
           login = std::move(login)](HttpApi& self, const DeferredHttp& deferred, bool) mutable {
            self.service().store().StoreLogin(
                std::move(login),
                StoreReply<bool>(self, deferred,
                                 [user, user_created_at, family, refresh](
                                     HttpApi& self, const DeferredHttp& deferred, bool) {
                                   AnswerTokens(self, deferred, user, user_created_at, family,
                                                refresh);
                                 }));
          }));
}

void HandleRefresh(HttpApi& api, HttpExchange& exchange) {
  std::string refresh;
  if (auto error = ParseRefreshToken(exchange.body(), &refresh)) {
    return exchange.RespondError(400, *error);
  }
  std::optional<std::string> next = RandomText(32);
  if (!next) return exchange.RespondError(500, "cannot issue a token");
  DeferredHttp deferred = exchange.Defer();
  const int64_t now = NowMs();
  // Hashed before the call: its arguments are evaluated in no set order, and the reply below
  // takes `next` by move.
  std::string next_hash = Sha256Hex(*next);
  api.service().store().RotateRefreshToken(
      Sha256Hex(refresh), std::move(next_hash),
      now + int64_t{api.config().refresh_token_ttl_s} * 1000, now,
      StoreReply<storage::RefreshRotation>(
          api, deferred,
          [next = std::move(*next)](HttpApi& self, const DeferredHttp& deferred,
                                    const storage::RefreshRotation& rotation) {
            switch (rotation.outcome) {
              case storage::RefreshOutcome::kRotated:
                // The sessions list's "last used"; the answer does not wait for it.
                self.service().store().TouchLogin(rotation.family, NowMs(),
                                                  [](storage::Result<bool>) {});
                return AnswerTokens(self, deferred, rotation.user, rotation.user_created_at,
                                    rotation.family, next);
              case storage::RefreshOutcome::kReused:
                return self.AnswerError(deferred, 401,
                                        "refresh token already used: every token of its login "
                                        "is revoked, log in again");
              case storage::RefreshOutcome::kUnknown:
                break;
            }
            self.AnswerError(deferred, 401, "invalid or expired refresh token");
          }));
}

// A login is heard when none of its keys is over its rule (AttemptCounter::Check); a wrong
// password counts a failure on each.
void ContinueLogin(HttpApi& api, const DeferredHttp& deferred, Credentials credentials,
                   std::string address, std::string user_agent, int64_t retry_after) {
  if (retry_after > 0) {
    return api.AnswerRetryLater(deferred, 429, "too many failed logins, retry later", retry_after);
  }
  std::string username = credentials.username;
  api.service().store().FindLogin(
      std::move(username),
      StoreReply<std::optional<storage::UserLogin>>(
          api, deferred,
          [credentials = std::move(credentials), address = std::move(address),
           user_agent = std::move(user_agent)](HttpApi& self, const DeferredHttp& deferred,
                                               std::optional<storage::UserLogin> login) mutable {
            auth::ScryptParams params{.log2_n = self.config().password_cost};
            const bool queued = self.shard().TryRunBlocking(
                WorkClass::kLogin,
                [password = std::move(credentials.password), login, params] {
                  if (!login) {
                    // The same work as a real check: timing tells nothing.
                    auth::SimulateVerify(password, params);
                    return false;
                  }
                  return auth::VerifyPassword(password, login->password_hash) ==
                         auth::VerifyOutcome::kMatch;
                },
                [&self, deferred, keys = LoginKeys(self, credentials.username, address), address,
                 user_agent = std::move(user_agent), user = login ? login->id : 0,
                 created = login ? login->created_at : 0](Shard&, bool match) mutable {
                  if (!match) {
                    self.attempts().Fail(std::move(keys));
                    return self.AnswerError(deferred, 401, "invalid username or password");
                  }
                  IssueTokens(self, deferred, user, created, std::move(user_agent),
                              std::move(address));
                });
            if (!queued) {
              self.AnswerRetryLater(
                  deferred, 503, "too many logins in progress (--workers-login-queue), retry later",
                  1);
            }
          }));
}

void HandleLogin(HttpApi& api, HttpExchange& exchange) {
  // No account has a name outside the rules, so such a login cannot succeed: it is refused
  // without a key built from arbitrary client bytes (and without the password hash's cost).
  std::optional<Credentials> read = ReadCredentials(exchange, 401, "invalid username or password");
  if (!read) return;
  Credentials credentials = std::move(*read);
  // Kept with the login for the sessions list; bounded, as a client writes it.
  constexpr size_t kMaxUserAgent = 256;
  std::string user_agent(exchange.request().Find("User-Agent").substr(0, kMaxUserAgent));
  DeferredHttp deferred = exchange.Defer();
  api.ClientAddressOf(exchange, [&api, deferred, credentials, user_agent](std::string address) {
    api.attempts().Check(
        LoginKeys(api, credentials.username, address),
        [deferred, credentials, address, user_agent](ChatShard& chat, int64_t retry_after) mutable {
          ContinueLogin(chat.http_api(), deferred, std::move(credentials), std::move(address),
                        std::move(user_agent), retry_after);
        });
  });
}

}  // namespace

std::optional<Credentials> ReadCredentials(HttpExchange& exchange, int bad_name_status,
                                           std::string_view bad_name) {
  Credentials credentials;
  if (auto error = ParseCredentials(exchange.body(), &credentials)) {
    exchange.RespondError(400, *error);
    return std::nullopt;
  }
  if (!ValidUsername(credentials.username)) {
    exchange.RespondError(bad_name_status, bad_name);
    return std::nullopt;
  }
  return credentials;
}

std::vector<AttemptCounter::Key> LoginKeys(HttpApi& api, const std::string& username,
                                           const std::string& address) {
  // An unknown address (never expected on TCP) shares one key: fail closed. IPv6 counts by its
  // network (--ipv6-prefix).
  const std::string from =
      address.empty() ? "?" : AddressLimitKey(address, api.config().ipv6_prefix);
  const std::string name = Lowercase(username);
  return {
      {"login:fail:ip:" + from,
       {api.config().login_rate_ip, api.config().login_backoff_after,
        api.config().login_backoff_max_s}},
      {"login:fail:pair:" + name + "|" + from, {api.config().login_rate_user}},
      {"login:fail:user:" + name, {api.config().login_rate_account}},
  };
}

std::string FamilyOf(std::string_view jti) {
  const size_t dot = jti.find('.');
  return dot == std::string_view::npos ? std::string() : std::string(jti.substr(0, dot));
}

std::span<const HttpRoute> LoginRoutes() {
  static constexpr HttpRoute kRows[] = {
      {http::Method::kPost, "/api/login", RouteAccess::kOwn, OnApi<&HandleLogin>},
      {http::Method::kPost, "/api/token/refresh", RouteAccess::kOwn, OnApi<&HandleRefresh>},
  };
  return kRows;
}

}  // namespace ringcast::chat
