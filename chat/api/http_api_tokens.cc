// Access and refresh tokens (proto/PROTOCOL.md, "Tokens"): a login or a refresh answers a
// short-lived access token (--token-ttl) and a refresh token (--refresh-token-ttl) that
// POST /api/token/refresh takes once, answering a new pair; a refresh token used twice is a
// copy in someone else's hands, and its whole family (every token since the login) is deleted.
// The store keeps only the SHA-256 of a refresh token; the access token's jti names the family
// ("<family>.<random>"), so that logout revokes both.
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>

#include "chat/api/http_api.h"
#include "chat/auth/encoding.h"
#include "chat/auth/jwt.h"
#include "chat/chat_shard.h"
#include "core/runtime/shard.h"

namespace ringcast::chat {
namespace {

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

}  // namespace

std::string HttpApi::FamilyOf(std::string_view jti) {
  const size_t dot = jti.find('.');
  return dot == std::string_view::npos ? std::string() : std::string(jti.substr(0, dot));
}

void HttpApi::IssueTokens(const DeferredHttp& deferred, int64_t user, int64_t user_created_at,
                          std::string user_agent, std::string address) {
  std::optional<std::string> refresh = RandomText(32);
  std::optional<std::string> family = RandomText(16);
  if (!refresh || !family) return AnswerError(deferred, 500, "cannot issue a token");
  const int64_t now = NowMs();
  storage::RefreshToken stored{.hash = Sha256Hex(*refresh),
                               .user = user,
                               .family = *family,
                               .expires_at_ms = now + int64_t{config_.refresh_token_ttl_s} * 1000};
  // The login's row (the sessions list) once its first token is stored: a login is listed only
  // while a refresh token of its family lives.
  storage::LoginRecord login{.family = *family,
                             .user = user,
                             .created_at = now,
                             .last_used_at = now,
                             .user_agent = std::move(user_agent),
                             .address = std::move(address)};
  service_.store().StoreRefreshToken(
      std::move(stored), now,
      service_.ReplyOn<bool>(shard_.id(), [deferred, user, user_created_at, family = *family,
                                           refresh = std::move(*refresh), login = std::move(login)](
                                              ChatShard& chat, auto result) mutable {
        HttpApi& self = chat.http_api();
        if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
        self.service_.store().StoreLogin(
            std::move(login),
            self.service_.ReplyOn<bool>(self.shard_.id(), [deferred, user, user_created_at, family,
                                                           refresh](ChatShard& chat, auto stored) {
              HttpApi& self = chat.http_api();
              if (!stored.ok()) return self.AnswerStoreFailure(deferred, stored.status());
              self.AnswerTokens(deferred, user, user_created_at, family, refresh);
            }));
      }));
}

void HttpApi::AnswerTokens(const DeferredHttp& deferred, int64_t user, int64_t user_created_at,
                           const std::string& family, const std::string& refresh_token) {
  const int64_t now_s = NowMs() / 1000;
  auto issued = auth::IssueJwt(user, now_s, config_.token_ttl_s, service_.secret(), family);
  if (!issued) return AnswerError(deferred, 500, "cannot issue a token");
  JsonWriter writer;
  Answer(deferred, 200,
         writer.BeginObject()
             .Field("token", issued->token)
             .Field("user_id", user)
             .Field("expires_at", issued->claims.exp * 1000)
             .Field("refresh_token", refresh_token)
             .Field("refresh_expires_at", (now_s + config_.refresh_token_ttl_s) * 1000)
             .Field("instance", service_.instance_id())
             .Field("user_created_at", user_created_at)
             .EndObject()
             .str());
}

void HttpApi::HandleRefresh(HttpExchange& exchange) {
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
  service_.store().RotateRefreshToken(
      Sha256Hex(refresh), std::move(next_hash), now + int64_t{config_.refresh_token_ttl_s} * 1000,
      now,
      service_.ReplyOn<storage::RefreshRotation>(shard_.id(), [deferred, next = std::move(*next)](
                                                                  ChatShard& chat, auto result) {
        HttpApi& self = chat.http_api();
        if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
        switch (result->outcome) {
          case storage::RefreshOutcome::kRotated:
            // The sessions list's "last used"; the answer does not wait for it.
            self.service_.store().TouchLogin(result->family, NowMs(), [](storage::Result<bool>) {});
            return self.AnswerTokens(deferred, result->user, result->user_created_at,
                                     result->family, next);
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

}  // namespace ringcast::chat
