// HttpApi: the chat's HTTP routes on one shard (proto/PROTOCOL.md): register, login, logout,
// user search, conversations (create, list, members, history), and the token check in front of the
// /ws upgrade, which hands the connection to the SessionHost.
//
// Owner: its shard's thread (one per ChatShard). Blocking work (password hashing) goes to the
// worker pool and every store call to the store's threads; their results come back as mail.
// It also owns this shard's LoginLimiter: login attempts (per username and per client address)
// and registrations (per client address) are counted per key on the shard that owns the key's
// hash, so the limits hold over the whole server (and in Redis over a cluster); and the count of
// open chat connections (--max-conns-per-ip) of the client addresses whose hash it owns.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/config.h"
#include "chat/protocol.h"
#include "chat/sessions/rate_limit.h"
#include "core/net/client_address.h"
#include "core/net/http_exchange.h"
#include "storage/chat_store.h"
#include "storage/unique_function.h"

namespace ringcast {
class Shard;
class WebSocketHandler;
}  // namespace ringcast

namespace ringcast::chat {

class ChatService;
class SessionHost;
class SseHub;
class StompGateway;

// "muted_until" (null, or wall ms; "forever" for kMutedForever) and "unread_mentions" of a
// conversation in GET /api/conversations. http_api_notify.cc.
void AppendNotifyState(JsonWriter& writer, const storage::ConversationSummary& summary,
                       int64_t now_ms);

// The fields of a JSON object body that are strings or null (http_api_profiles.cc): each of
// `names` present is set (an inner nullopt for null); other fields are ignored, as elsewhere in
// the API. A reason when the body is not such an object.
using StringFields = std::vector<std::pair<std::string, std::optional<std::string>>>;
std::optional<std::string> ParseStringFields(std::string_view body,
                                             std::initializer_list<std::string_view> names,
                                             StringFields* out);
// A user as every listing shows them (proto/PROTOCOL.md, "Profiles"): id, username,
// display_name, avatar and avatar_thumb (URLs), status, and deleted for a deleted account.
void WriteProfile(JsonWriter& writer, const storage::Profile& profile);
// {"<key>":[profile, ...]}: the answer of every route that lists users (GET /api/users, GET
// /api/blocks).
std::string ProfilesBody(std::string_view key, const std::vector<storage::Profile>& profiles);

class HttpApi {
 public:
  // `ws_handler` takes the /ws connections it upgrades (the ChatShard), and `sessions` their
  // sessions; `sessions` also holds the revoked-token replica that every token check reads.
  // `stomp` takes the STOMP connections (/stomp, or /ws with the subprotocol v12.stomp), `sse`
  // holds the HTTP transports' channels.
  HttpApi(Shard& shard, ChatService& service, WebSocketHandler& ws_handler, SessionHost& sessions,
          SseHub& sse, StompGateway& stomp);

  // Whether `path` is one of its routes (/ws, /stomp, /sse, /sse/..., /api/...).
  static bool Serves(std::string_view path);
  // A request for one of its routes (Serves(path)).
  void OnRequest(HttpExchange& exchange);
  // Once a second: a new login window when the current one has ended.
  void Sweep(int64_t now_ms);

  // The token check of every authenticated route (also the file routes', chat/api/upload_api.h):
  // Authorization: Bearer, or ?token= where `allow_query`.
  struct Authenticated {
    int64_t user = 0;
    std::string jti;
    int64_t exp = 0;
  };

  // `token` verified (signature, expiry) and not revoked (`sessions`' replica); else nullopt
  // and the reason in *error ("invalid token", "token expired", "token revoked"). Also for the
  // token a STOMP CONNECT frame carries.
  static std::optional<Authenticated> VerifyToken(const ChatService& service,
                                                  const SessionHost& sessions,
                                                  std::string_view token, std::string* error);
  // The request's bearer token (or ?token= when `allow_query`), verified and not revoked; the
  // user goes to the access log's line of this exchange.
  std::optional<Authenticated> Authenticate(HttpExchange& exchange, bool allow_query,
                                            std::string* error);
  void AnswerStoreFailure(const DeferredHttp& deferred, const storage::Status& status);
  // A chat connection admitted under --max-conns-per-ip (its session's address) has closed: the
  // address's owner shard counts one fewer. Any shard; "" (never counted) does nothing.
  static void ConnectionClosed(ChatService& service, std::string address);

 private:
  bool RequireAuth(HttpExchange& exchange, Authenticated* auth);
  void HandleRegister(HttpExchange& exchange);
  // http_api_login.cc: a login is heard when none of its keys (the address, the username from
  // that address, the username) is over its rule; a wrong password counts a failure on each.
  void HandleLogin(HttpExchange& exchange);
  void ContinueLogin(const DeferredHttp& deferred, Credentials credentials, std::string address,
                     std::string user_agent, int64_t retry_after);
  struct LoginKey {
    std::string key;
    AttemptRule rule;
  };
  std::vector<LoginKey> LoginKeys(const std::string& username, const std::string& address) const;
  // Checks `keys` (one after the other, stopping at the first refusal) for the whole service:
  // in Redis in cluster mode, else (or when Redis does not answer) on each key's owner shard;
  // `then(shard, retry_after_s)` back here, 0 = go.
  void CheckAttempts(std::vector<LoginKey> keys, size_t next,
                     storage::UniqueFunction<void(HttpApi&, int64_t)> then);
  void CheckAttemptHere(std::vector<LoginKey> keys, size_t next,
                        storage::UniqueFunction<void(HttpApi&, int64_t)> then);
  // Counts a failure of each of `keys` (in Redis in cluster mode, and here when it fails).
  void CountFailures(std::vector<LoginKey> keys);
  void CountFailureHere(const std::string& key);
  // After the per-address count: 429, or the password hash (a kRegistration worker task, 503
  // past --max-pending-registrations), then the store.
  void ContinueRegister(const DeferredHttp& deferred, Credentials credentials, int64_t retry_after);
  void HandleLogout(HttpExchange& exchange);
  // http_api_tokens.cc: a login's tokens (a new family: its refresh token stored first, then
  // the answer); the answer to a login or a refresh (a new access token of the family, and its
  // refresh token); POST /api/token/refresh; the family named by an access token's jti
  // ("<family>.<random>"), which logout revokes.
  // The login's User-Agent and address are kept for the sessions list (GET /api/me/sessions).
  void IssueTokens(const DeferredHttp& deferred, int64_t user, int64_t user_created_at,
                   std::string user_agent, std::string address);
  void AnswerTokens(const DeferredHttp& deferred, int64_t user, int64_t user_created_at,
                    const std::string& family, const std::string& refresh_token);
  void HandleRefresh(HttpExchange& exchange);
  static std::string FamilyOf(std::string_view jti);
  // http_api_conversations.cc: /api/conversations and /api/conversations/{id}/..., each route a
  // step of its own.
  void HandleConversations(HttpExchange& exchange, std::string_view rest);
  void HandleConversation(HttpExchange& exchange, int64_t conv, int64_t caller,
                          std::string_view tail);
  void ListConversations(HttpExchange& exchange, int64_t caller);
  void CreateConversation(HttpExchange& exchange, int64_t caller);
  void MessagesPage(HttpExchange& exchange, int64_t conv, int64_t caller);
  void ListPins(HttpExchange& exchange, int64_t conv, int64_t caller);
  void AddMembers(HttpExchange& exchange, int64_t conv, int64_t caller);
  void ChangeMember(HttpExchange& exchange, int64_t conv, int64_t caller,
                    std::string_view user_text);
  void TransferGroup(HttpExchange& exchange, int64_t conv, int64_t caller);
  void ChangeGroupSettings(HttpExchange& exchange, int64_t conv, int64_t caller);
  void ChangeGroup(HttpExchange& exchange, storage::GroupChange change);
  storage::Reply<storage::MembershipOutcome> MembershipReply(DeferredHttp deferred,
                                                             std::vector<int64_t> removed);
  // A refused store call of a conversation's route (the store's Denial): answered with its
  // status and reason; false for kNone.
  bool AnswerDenial(const DeferredHttp& deferred, storage::Denial denial);
  void HandleThreadPage(HttpExchange& exchange, int64_t conv, int64_t caller,
                        std::string_view root_text);
  // http_api_messages.cc: PATCH and DELETE /api/conversations/{id}/messages/{seq}, and PUT and
  // DELETE on its /pin and /reactions/{emoji}.
  void HandleMessageChange(HttpExchange& exchange, int64_t conv, int64_t caller, int64_t seq,
                           std::string_view what);
  void HandleUsers(HttpExchange& exchange);       // http_api_users.cc
  void HandleSearch(HttpExchange& exchange);      // http_api_search.cc
  void HandleIceServers(HttpExchange& exchange);  // http_api_calls.cc
  // http_api_notify.cc: POST/DELETE /api/conversations/{id}/mute, GET /api/mentions.
  void HandleMute(HttpExchange& exchange, std::string_view rest);
  void HandleMentions(HttpExchange& exchange);
  void HandlePush(HttpExchange& exchange, std::string_view route);  // http_api_push.cc
  // http_api_profiles.cc: GET, PATCH and DELETE /api/me; the account and profile answer; the
  // profile event to every shard and node.
  void HandleMe(HttpExchange& exchange);
  void AnswerMe(const DeferredHttp& deferred, int64_t user);
  void PublishProfile(const storage::Profile& profile);
  // http_api_account.cc: POST /api/me/password, GET and DELETE /api/me/sessions[/{id}],
  // POST, GET and DELETE /api/blocks[/{user}], and the account deletion of DELETE /api/me.
  void HandlePassword(HttpExchange& exchange);
  void HandleSessions(HttpExchange& exchange, std::string_view rest);
  void HandleBlocks(HttpExchange& exchange, std::string_view rest);
  void HandleDeleteAccount(HttpExchange& exchange, const Authenticated& auth);
  // Checks `password` against `user`'s, counted as a login attempt (its failures slow further
  // tries as wrong logins do); `then(self, match)` back here once it is known. Answers 429 or a
  // store failure itself.
  void CheckPassword(const DeferredHttp& deferred, int64_t user, std::string address,
                     std::string password, storage::UniqueFunction<void(HttpApi&)> then);
  // Ends logins (storage::ProfileStore::EndLogins) and revokes their access tokens live, on
  // every shard and node, as logout does; `then(self, families)` once the store has committed.
  void EndLogins(const DeferredHttp& deferred, int64_t user, storage::LoginSelection which,
                 storage::UniqueFunction<void(HttpApi&, std::vector<std::string>)> then);
  void RevokeFamiliesLive(int64_t user, const std::vector<std::string>& families);
  // The upgrade waits for the client address's owner shard to count the connection
  // (--max-conns-per-ip), then FinishUpgrade answers 101 (and opens the session) or 429.
  // http_api_ws.cc. A STOMP upgrade (HandleStomp, or /ws offering v12.stomp) has no token yet
  // (it comes in the CONNECT frame): its connection goes to the StompGateway.
  void HandleWebSocket(HttpExchange& exchange);
  void HandleStomp(HttpExchange& exchange);
  // `auth`: a /ws session's token; none for STOMP, whose 101 names the subprotocol
  // `subprotocol` when the client offered one (a static string: it crosses shards as a view).
  void CountThenUpgrade(HttpExchange& exchange, std::optional<Authenticated> auth,
                        std::string_view subprotocol);
  void FinishUpgrade(const DeferredHttp& deferred, std::string_view accept,
                     std::optional<Authenticated> auth, std::string_view subprotocol,
                     std::string address, bool admitted);
  static uint32_t AddressOwner(const ChatService& service, const std::string& address);
  // The client address of `conn` (the peer, or what a trusted proxy forwards) counted on its
  // owner shard under --max-conns-per-ip; then `then(api, address, admitted)` back here.
  void AdmitAddress(Connection& conn, ForwardedHeaders forwarded,
                    storage::UniqueFunction<void(HttpApi&, std::string, bool)> then);
  // http_api_sse.cc: the HTTP transports (proto/PROTOCOL.md, "SSE and long
  // polling"): GET /sse, GET /sse/poll, POST /sse/send; their channels are the SseHub's.
  void HandleSse(HttpExchange& exchange);
  void HandleSsePoll(HttpExchange& exchange);
  void HandleSsePost(HttpExchange& exchange);
  // A new session for a stream or a poll: counted for its user (--sse-opens-per-minute, 429
  // past it), then AdmitSse counts its address and opens it.
  void OpenSse(const DeferredHttp& deferred, Authenticated auth, ForwardedHeaders forwarded,
               bool poll);
  void AdmitSse(const DeferredHttp& deferred, Authenticated auth, ForwardedHeaders forwarded,
                bool poll);
  void Answer(const DeferredHttp& deferred, int status, std::string_view body,
              std::string_view extra_headers = {});
  void AnswerError(const DeferredHttp& deferred, int status, std::string_view reason,
                   std::string_view extra_headers = {});
  // Counts an attempt (a login or a registration: "login:user:NAME", "login:ip:ADDRESS",
  // "register:ip:ADDRESS") for the whole service: in Redis in cluster mode, else (or when Redis
  // does not answer) on the key's owner shard; `then(shard, retry_after_s)` back here, 0 = go.
  void CountAttempt(std::string key, uint32_t limit,
                    storage::UniqueFunction<void(HttpApi&, int64_t)> then);
  void CountAttemptHere(std::string key, uint32_t limit,
                        storage::UniqueFunction<void(HttpApi&, int64_t)> then);
  // Tells every shard (this one too) about a conversation's new membership.
  void AnnounceMembers(const storage::ConversationState& state, std::vector<int64_t> removed);
  // After a committed group change: its system entries go out through the conversation's owner
  // (and to the other nodes), then AnnounceMembers, from the owner's shard.
  void AfterGroupChange(const storage::MembershipOutcome& outcome, std::vector<int64_t> removed);
  // A deleted account leaves group `conv`; as its owner, it first hands ownership on
  // (http_api_account.cc).
  void LeaveGroupOf(int64_t conv, int64_t user);

  // The password rules of register, and of a password change.
  static constexpr size_t kMinPassword = 8;
  static constexpr size_t kMaxPassword = 1024;
  // Login attempts and registrations are counted per minute (LoginLimiter, and in Redis).
  static constexpr int64_t kAttemptWindowMs = 60 * 1000;

  Shard& shard_;
  ChatService& service_;
  const Config& config_;
  WebSocketHandler& ws_handler_;
  SessionHost& sessions_;
  SseHub& sse_;
  StompGateway& stomp_;
  LoginLimiter attempt_limiter_;  // Logins and registrations per key, for the keys it owns.
  // Changes to messages over HTTP per user per second (--msg-rate), of this shard's requests: a
  // client without a connection has no session's token bucket.
  LoginLimiter change_limiter_;
  ConnectionsPerAddress conns_per_address_;  // Chat connections, for the addresses it owns.
};

}  // namespace ringcast::chat
