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

#include "chat/api/http_routes.h"
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

  // Once a second: a new login window when the current one has ended.
  void Sweep(int64_t now_ms);

  // The token check of every authenticated route (chat/api/http_routes.h, and the routes that
  // check their own caller).
  using Authenticated = chat::Authenticated;

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

  // Authorization: Bearer verified; else answers 401 and false.
  bool RequireAuth(HttpExchange& exchange, Authenticated* auth);

  // The routes' handlers: the table in chat/api/http_routes.cc names each one's method and path.
  // A bearer route's caller is `call.auth`; the others check their caller themselves.
  // Transports: /ws and /stomp (http_api_ws.cc), /sse, /sse/poll, /sse/send (http_api_sse.cc).
  void HandleWebSocket(HttpExchange& exchange);
  void HandleStomp(HttpExchange& exchange);
  void HandleSse(HttpExchange& exchange);
  void HandleSsePoll(HttpExchange& exchange);
  void HandleSsePost(HttpExchange& exchange);
  // Accounts: register and logout (here), login (http_api_login.cc), refresh
  // (http_api_tokens.cc), /api/me (http_api_profiles.cc), its password, sessions and blocks
  // (http_api_account.cc).
  void HandleRegister(HttpExchange& exchange);
  void HandleLogin(HttpExchange& exchange);
  void HandleRefresh(HttpExchange& exchange);
  void HandleLogout(HttpExchange& exchange, const RouteCall& call);
  void GetMe(HttpExchange& exchange, const RouteCall& call);
  void PatchMe(HttpExchange& exchange, const RouteCall& call);
  void DeleteAccount(HttpExchange& exchange, const RouteCall& call);
  void HandlePassword(HttpExchange& exchange, const RouteCall& call);
  void ListSessions(HttpExchange& exchange, const RouteCall& call);
  void EndSession(HttpExchange& exchange, const RouteCall& call);
  void ListBlocks(HttpExchange& exchange, const RouteCall& call);
  // POST /api/blocks (`on`, the user in the body) and DELETE /api/blocks/{user}.
  void SetBlock(HttpExchange& exchange, const RouteCall& call, bool on);
  // Users, search, mentions, calls and push: one file each (http_api_users.cc, _search.cc,
  // _notify.cc, _calls.cc, _push.cc).
  void HandleUsers(HttpExchange& exchange, const RouteCall& call);
  void HandleSearch(HttpExchange& exchange, const RouteCall& call);
  void HandleMentions(HttpExchange& exchange, const RouteCall& call);
  void HandleIceServers(HttpExchange& exchange, const RouteCall& call);
  void VapidPublicKey(HttpExchange& exchange);
  void AddPushSubscription(HttpExchange& exchange, const RouteCall& call);
  void RemovePushSubscription(HttpExchange& exchange, const RouteCall& call);
  // Conversations and groups (http_api_conversations.cc), mute (http_api_notify.cc).
  void ListConversations(HttpExchange& exchange, const RouteCall& call);
  void CreateConversation(HttpExchange& exchange, const RouteCall& call);
  void ChangeGroupSettings(HttpExchange& exchange, const RouteCall& call);
  void MessagesPage(HttpExchange& exchange, const RouteCall& call);
  void ListPins(HttpExchange& exchange, const RouteCall& call);
  void ThreadPage(HttpExchange& exchange, const RouteCall& call);
  void AddMembers(HttpExchange& exchange, const RouteCall& call);
  void RemoveMember(HttpExchange& exchange, const RouteCall& call);
  void SetMemberRole(HttpExchange& exchange, const RouteCall& call);
  void TransferGroup(HttpExchange& exchange, const RouteCall& call);
  void SetMute(HttpExchange& exchange, const RouteCall& call, bool on);
  // A message's edit, deletion, pin and reaction (http_api_messages.cc): `kind` a
  // storage::k*Kind; `removes` a deletion, an unpin, or a reaction taken back.
  void ChangeMessage(HttpExchange& exchange, const RouteCall& call, std::string_view kind,
                     bool removes);

 private:
  // http_api_login.cc: a login is heard when none of its keys (the address, the username from
  // that address, the username) is over its rule; a wrong password counts a failure on each.
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
  // http_api_tokens.cc: a login's tokens (a new family: its refresh token stored first, then
  // the answer); the answer to a login or a refresh (a new access token of the family, and its
  // refresh token); the family named by an access token's jti ("<family>.<random>"), which
  // logout revokes.
  // The login's User-Agent and address are kept for the sessions list (GET /api/me/sessions).
  void IssueTokens(const DeferredHttp& deferred, int64_t user, int64_t user_created_at,
                   std::string user_agent, std::string address);
  void AnswerTokens(const DeferredHttp& deferred, int64_t user, int64_t user_created_at,
                    const std::string& family, const std::string& refresh_token);
  static std::string FamilyOf(std::string_view jti);
  // http_api_conversations.cc: a group change's store call and answer.
  void ChangeGroup(HttpExchange& exchange, storage::GroupChange change);
  storage::Reply<storage::MembershipOutcome> MembershipReply(DeferredHttp deferred,
                                                             std::vector<int64_t> removed);
  // A refused store call of a conversation's route (the store's Denial): answered with its
  // status and reason; false for kNone.
  bool AnswerDenial(const DeferredHttp& deferred, storage::Denial denial);
  // http_api_profiles.cc: the account and profile answer; the profile event to every shard and
  // node.
  void AnswerMe(const DeferredHttp& deferred, int64_t user);
  void PublishProfile(const storage::Profile& profile);
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
  // http_api_sse.cc: a new session for a stream or a poll: counted for its user
  // (--sse-opens-per-minute, 429 past it), then AdmitSse counts its address and opens it.
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
