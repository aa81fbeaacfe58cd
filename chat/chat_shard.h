// ChatShard: the chat service's state and handlers on one shard (chat/README.md).
//
// Owner: its shard's thread; other shards reach it only through ChatService::Post. It plays
// three roles at once:
//   - host of this shard's sessions (the chat WebSocket connections accepted here), with the
//     local indexes fan-out needs: sessions by user, by conversation, by watched contact;
//   - owner of the conversations with ConversationOwner(id) == this shard: it knows which shards
//     have sessions in each, and publishes each committed message, receipt and typing event to
//     them, in commit (= seq) order;
//   - owner of the users with UserOwner(id) == this shard: it counts their connections on every
//     shard and decides their presence (with the reconnect grace), and enforces the per-user
//     connection limit.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/conv_view.h"
#include "chat/pending_requests.h"
#include "chat/presence.h"
#include "chat/protocol.h"
#include "chat/rate_limit.h"
#include "chat/service.h"
#include "core/net/connection.h"
#include "core/net/http_exchange.h"
#include "core/runtime/clock.h"

namespace ringcast::chat {

// One chat WebSocket connection.
struct Session {
  enum class Phase : uint8_t { kStarting, kReady, kGone };

  Connection* conn = nullptr;
  ConnId id;
  int64_t user = 0;
  std::string jti;
  Phase phase = Phase::kStarting;
  bool attached = false;  // Counted by the user's owner shard.
  bool loaded = false;
  size_t index = 0;               // In ChatShard::sessions_.
  int64_t last_heartbeat_ms = 0;  // Monotonic.
  TokenBucket bucket;             // --msg-rate.
  uint32_t refused_in_a_row = 0;
  PendingRequests pending;          // Not yet their turn (pending_requests.h).
  bool answer_outstanding = false;  // A sync or history answer is on its way.
  std::unordered_map<int64_t, ConvView> convs;
  std::unordered_map<int64_t, uint32_t> contacts;  // User → conversations shared.
};

class ChatShard final : public Application, public WebSocketHandler {
 public:
  ChatShard(Shard& shard, ChatService& service);
  ~ChatShard() override;

  // Application.
  void OnRequest(HttpExchange& exchange) override;
  void OnTick() override;
  // WebSocketHandler (the /ws route).
  void OnMessage(Connection& conn, ws::Opcode opcode, std::span<const uint8_t> payload) override;
  void OnHeartbeat(Connection& conn) override;
  void OnDrain(Connection& conn) override;
  void OnClose(Connection& conn) override;

 private:
  struct Authenticated {
    int64_t user = 0;
    std::string jti;
    int64_t exp = 0;
  };
  // This shard's view of a conversation some local session is in.
  struct LocalConv {
    std::vector<Session*> sessions;
    std::vector<int64_t> members;  // Sorted.
    uint64_t join_token = 0;       // Matches the owner's answer to our latest join.
    bool joined = false;           // The owner has answered: events now come here.
    int64_t last_seen = -1;        // Newest seq published to this shard; -1 unknown.
  };
  struct Watermarks {
    int64_t delivered = 0;
    int64_t read = 0;
  };
  // A conversation this shard owns.
  struct OwnedConv {
    uint64_t shard_mask = 0;      // Shards with sessions in it.
    int64_t last_published = -1;  // -1: nothing published since start.
    // Committed watermarks seen since start, per member (a lower bound of the stored ones).
    std::unordered_map<int64_t, Watermarks> watermarks;
    // The newest committed messages, contiguous, while some shard has sessions in it.
    std::deque<storage::Message> recent;
    int64_t last_used_ms = 0;  // Monotonic: the latest join, leave, commit or receipt.
    bool idle_listed = false;  // In idle_convs_.
  };
  struct Presence {
    bool online = false;
    std::optional<int64_t> last_online;
  };

  // --- HTTP (http_api.cc) -------------------------------------------------------------------
  std::optional<Authenticated> Authenticate(const http::Request& request, bool allow_query,
                                            std::string* error);
  bool RequireAuth(HttpExchange& exchange, Authenticated* auth);
  void HandleRegister(HttpExchange& exchange);
  void HandleLogin(HttpExchange& exchange);
  void ContinueLogin(const DeferredHttp& deferred, Credentials credentials, int64_t retry_after);
  void HandleLogout(HttpExchange& exchange);
  void HandleConversations(HttpExchange& exchange, std::string_view rest);
  void HandleWebSocket(HttpExchange& exchange);
  void Answer(const DeferredHttp& deferred, int status, std::string_view body,
              std::string_view extra_headers = {});
  void AnswerError(const DeferredHttp& deferred, int status, std::string_view reason,
                   std::string_view extra_headers = {});
  void AnswerStoreFailure(const DeferredHttp& deferred, const storage::Status& status);
  // Counts an attempt on the key's owner shard; `then(shard, retry_after_s)` back here, 0 = go.
  void CountLoginAttempt(std::string key, uint32_t limit,
                         storage::UniqueFunction<void(ChatShard&, int64_t)> then);
  // Tells every shard (this one too) about a conversation's new membership.
  void AnnounceMembers(const storage::ConversationState& state, std::vector<int64_t> removed);

  // --- Sessions (sessions.cc) -----------------------------------------------------------------
  void OpenSession(Connection& conn, Authenticated auth);
  void OnSessionStart(ConnId id, storage::Result<storage::SessionStart> result);
  void OnAttached(ConnId id, bool accepted);
  void MaybeReady(Session& session);
  void GoLive(Session& session, int64_t conv, ConvView& view);
  // Handles pending requests while the session can take them (ready, no answer outstanding,
  // connection not congested).
  void RunPending(Session& session);
  void HandleRequest(Session& session, std::string_view text);
  bool AdmitRequest(Session& session, std::string_view cid);
  void HandleSend(Session& session, ClientRequest& request);
  void HandleWatermark(Session& session, const ClientRequest& request);
  void HandleSync(Session& session, ClientRequest& request);
  void AnswerSync(Session& session, const std::vector<storage::SyncConversation>& convs);
  void HandleHistory(Session& session, const ClientRequest& request);
  // The answer to the session's outstanding sync or history request: sends it and lets the
  // requests behind it go.
  void FinishAnswer(ConnId id, std::string_view json);
  void HandleTyping(Session& session, const ClientRequest& request);
  void SendError(Session& session, std::string_view code, std::string_view message,
                 std::string_view cid = {});
  Session* FindSession(ConnId id);
  void CloseSession(Session& session, uint16_t code, std::string_view reason);
  void AddView(Session& session, int64_t conv, int64_t start_seq,
               const std::vector<int64_t>& members);
  void DropView(Session& session, int64_t conv);
  void Watch(Session& session, int64_t user);
  void Unwatch(Session& session, int64_t user);

  // --- Cross-shard roles (owners.cc) ----------------------------------------------------------
  // Local side of conversation fan-out.
  void OnJoined(int64_t conv, uint64_t token, int64_t last_published);
  void DeliverLocal(int64_t conv, int64_t seq, SharedFrame* frame, int64_t except_user,
                    bool droppable);
  void OnMembersChanged(const storage::ConversationState& state,
                        const std::vector<int64_t>& removed);
  void OnPresence(int64_t user, bool online, std::optional<int64_t> last_online,
                  SharedFrame* frame);
  void OnRevoked(int64_t user, const std::string& jti, int64_t exp_ms);
  // Owner side.
  void OwnerJoin(int64_t conv, uint32_t shard, uint64_t token);
  void OwnerLeave(int64_t conv, uint32_t shard);
  void OwnerHistory(ConnId origin, int64_t conv, int64_t user, int64_t before, uint32_t limit);
  void OwnerWatermark(ConnId origin, int64_t conv, int64_t user, bool read, int64_t seq);
  void OwnerCommitted(ConnId origin, std::string cid,
                      storage::Result<storage::AppendOutcome> result);
  // Sends `json` to the sessions of `conv` on every shard that has some. seq > 0: a message,
  // delivered at most once per connection and in seq order.
  void OwnerPublish(int64_t conv, int64_t seq, std::string_view json, int64_t except_user,
                    bool droppable);
  void OwnerAttach(int64_t user, ConnId conn);
  void OwnerDetach(int64_t user, ConnId conn);
  void OwnerSweepPresence();
  void BroadcastPresence(const PresenceOwner::Change& change);
  // The record of `conv`, created if need be, marked as used now.
  OwnedConv& UseOwnedConv(int64_t conv);
  // Lists `conv` for forgetting when no shard has sessions in it.
  void NoteIdle(int64_t conv, OwnedConv& owned);
  // Forgets the owned conversations that nobody has joined or used for --idle-state-ttl.
  void ForgetIdleConvs(int64_t now_ms);
  // Forgets revocations of tokens that expired long enough ago.
  void ForgetExpiredRevocations();
  // Sends a frame to one connection on any shard.
  void SendTo(ConnId conn, std::string json);
  // Like SendTo, for the answer to a history request (FinishAnswer there).
  void AnswerTo(ConnId conn, std::string json);

  Shard& shard_;
  ChatService& service_;
  const Config& config_;
  RequestParser parser_;

  std::vector<std::unique_ptr<Session>> sessions_;
  std::unordered_map<int64_t, std::vector<Session*>> by_user_;
  std::unordered_map<int64_t, LocalConv> local_convs_;
  std::unordered_map<int64_t, std::vector<Session*>> watchers_;  // Contact → sessions.
  // Replicated from the users' owners: every online user, and the offline ones some local
  // session watches (others are offline, with the last_online the store has).
  std::unordered_map<int64_t, Presence> presence_;
  // Revoked token ids → their token's exp (wall-clock ms), replicated to every shard, kept until
  // the token has expired (it then fails its own check).
  std::unordered_map<std::string, int64_t> revoked_;

  std::unordered_map<int64_t, OwnedConv> owned_convs_;
  // Owned conversations that no shard has joined, with when they were listed (monotonic ms),
  // roughly oldest first.
  std::deque<std::pair<int64_t, int64_t>> idle_convs_;
  PresenceOwner presence_owner_;  // The users this shard owns.
  LoginLimiter login_limiter_;    // Login attempts per key (username, address) owned by hash.

  uint64_t next_join_token_ = 0;
  std::unique_ptr<Application> fallback_;  // /health, /echo, /raw/.
  const Clock& clock_;                     // Monotonic for every duration; wall for timestamps.
  int64_t next_sweep_ms_;                  // Monotonic: the next once-a-second sweep.
  int64_t next_revocation_sweep_ms_;
};

}  // namespace ringcast::chat
