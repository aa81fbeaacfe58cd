// SessionHost: the chat WebSocket connections (sessions) of one shard, and the receiving end of
// the owners' mail for them (chat/README.md, "Who owns what").
//
// Owner: its shard's thread (one per ChatShard, which hands it the /ws events). It keeps the
// local indexes fan-out needs: sessions by user (by_user_), by conversation (local_convs_), by
// watched contact (watchers_); a replica of presence, and of the revoked token ids.
//
// It never knows where a conversation's sequencer or a user's owner runs: everything about a
// conversation goes through its ConversationLink (join, leave, send, receipts, history,
// typing) and attach/detach through its UserLink. The owners answer by mail to the public On*
// calls below, and to SendText and FinishAnswer for one connection.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "chat/calls/call_mail.h"
#include "chat/chat_metrics.h"
#include "chat/config.h"
#include "chat/ops/request_reader.h"
#include "chat/owners/presence.h"
#include "chat/protocol.h"
#include "chat/sessions/call_link.h"
#include "chat/sessions/conv_view.h"
#include "chat/sessions/conversation_link.h"
#include "chat/sessions/pending_requests.h"
#include "chat/sessions/rate_limit.h"
#include "chat/sessions/revoked_tokens.h"
#include "chat/sessions/session_transport.h"
#include "chat/sessions/user_link.h"
#include "chat/sessions/user_news.h"
#include "core/net/connection.h"
#include "core/runtime/clock.h"
#include "storage/chat_store.h"

namespace ringcast {
class Shard;
class SharedFrame;
}  // namespace ringcast

namespace ringcast::chat {

class ChatService;

// One chat session: a /ws connection, or a client on another transport (SessionTransport).
struct Session {
  enum class Phase : uint8_t { kStarting, kReady, kGone };

  void Send(std::string_view json) {
    transport ? transport->Send(json) : void(conn->SendText(json));
  }
  // Takes over one reference on `frame` (a JSON event as a WebSocket text frame).
  void SendShared(SharedFrame* frame, ringcast::Delivery delivery) {
    transport ? transport->SendShared(frame, delivery) : void(conn->SendFrame(frame, delivery));
  }
  void Close(uint16_t code, std::string_view reason) {
    transport ? transport->Close(code, reason) : conn->Close(code, reason);
  }
  bool congested() const {
    return conn != nullptr ? conn->congested() : transport != nullptr && transport->Congested();
  }
  void NotifyWhenUncongested() {
    conn != nullptr ? conn->NotifyWhenUncongested() : transport->NotifyWhenUncongested();
  }

  // The connection the session's events leave by (its congestion holds requests back). Null
  // for a session on an HTTP transport while none of its requests streams its events.
  Connection* conn = nullptr;
  std::unique_ptr<SessionTransport> transport;  // None: JSON over conn's WebSocket.
  ConnId id;
  int64_t user = 0;
  std::string jti;
  int64_t token_exp_ms = 0;     // Wall clock: the token's exp, as the client knows it.
  int64_t token_ends_ms = 0;    // Monotonic: when the session closes 4001 "token expired".
  bool expiry_noticed = false;  // token_expiring sent for the current token.
  std::string address;          // Counted by its owner shard's HttpApi (--max-conns-per-ip).
  Phase phase = Phase::kStarting;
  bool attached = false;  // Counted by the user's owner shard.
  bool loaded = false;
  size_t index = 0;               // In SessionHost::sessions_.
  int64_t last_heartbeat_ms = 0;  // Monotonic.
  TokenBucket bucket;             // --msg-rate.
  uint32_t refused_in_a_row = 0;
  PendingRequests pending;          // Not yet their turn (pending_requests.h).
  bool answer_outstanding = false;  // A sync or history answer is on its way.
  std::unordered_map<int64_t, ConvView> convs;
  std::unordered_map<int64_t, uint32_t> contacts;  // User → conversations shared.
  uint64_t device = 0;  // hello's `device`: this connection in calls (calls/call_mail.h).
  // The calls this device is in (their holders hear of its close: CallOp::kDropped).
  std::vector<std::string> calls;
};

class SessionHost {
 public:
  SessionHost(Shard& shard, ChatService& service, ChatMetrics& metrics);
  ~SessionHost();

  // An authenticated connection just upgraded to /ws: its session starts (the store loads its
  // conversations and contacts, the user's owner counts it) and gets `hello` once ready.
  // `address`: the client address counted under --max-conns-per-ip, released at the close.
  // `exp_s`: the token's exp (wall clock, seconds): the session closes then (4001) unless an
  // auth request gives it a newer token (session_host_tokens.cc). `transport`: how its events
  // reach a client on another transport than JSON over `conn`'s WebSocket (none for /ws).
  void Open(Connection& conn, int64_t user, std::string jti, int64_t exp_s, std::string address,
            std::unique_ptr<SessionTransport> transport = nullptr);
  // A session on an HTTP transport (SSE and long polling: sessions/sse_hub.h), which outlives
  // each of its connections: named by an id of its own (slot kTransportSlot, never a
  // connection's), its events all go through `transport`, its requests come in by
  // OnTransportRequest, and it ends once the transport closes it (Release).
  static constexpr uint32_t kTransportSlot = UINT32_MAX;
  ConnId OpenDetached(int64_t user, std::string jti, int64_t exp_s, std::string address,
                      std::unique_ptr<SessionTransport> transport);
  // One request of the chat protocol (a /ws text message's JSON), and a heartbeat.
  void OnTransportRequest(ConnId id, std::string_view text);
  void OnTransportHeartbeat(ConnId id);
  // The connection the session's events leave by now (null: none), for its congestion.
  void SetTransportConnection(ConnId id, Connection* conn);
  // After SessionTransport::NotifyWhenUncongested, or a connection's drain: requests may run.
  void OnTransportDrain(ConnId id);
  // Ends the session (as CloseSession: its transport is told) / forgets a session whose
  // transport has closed it (as OnClose does for /ws). Both no-ops for an unknown id.
  void CloseTransportSession(ConnId id, uint16_t code, std::string_view reason);
  void Release(ConnId id);
  // Whether the token id `jti` has been revoked (the replica: checking never leaves the shard).
  bool revoked(const std::string& jti) const { return revoked_.Contains(jti); }

  // The /ws events of this shard's connections.
  void OnMessage(Connection& conn, ws::Opcode opcode, std::span<const uint8_t> payload);
  void OnHeartbeat(Connection& conn);
  void OnDrain(Connection& conn);
  void OnClose(Connection& conn);
  // The user id of a connection's session, as text ("" when it has none), for the access log.
  std::string UserOf(const Connection& conn) const;
  // Once a second: closes the sessions silent for --presence-timeout and those whose token has
  // expired (after token_expiring, --token-refresh-notice before); now and then forgets expired
  // revocations.
  void Sweep(int64_t now_ms);
  // SIGTERM (ChatShard::OnShutdown). Cluster mode: each session gets
  // {"type":"reconnect","after_ms":N}, N drawn uniformly from [0, --reconnect-jitter-ms] per
  // session, and is closed 1012 "service restart" behind what is already queued for it. A
  // single node leaves its sessions to the engine's 1001 "server shutting down"
  // (docs/cluster.md, "Draining and rolling restarts", says why).
  void Drain();

  // --- Mail from the owners ---------------------------------------------------------------------
  // The user's owner has counted `id` (or refused it: too many connections).
  void OnAttached(ConnId id, bool accepted);
  // The conversation's owner answered our latest join (`token`): what it publishes from now on
  // comes here; `last_published` is the newest seq it published before (-1: unknown).
  void OnJoined(int64_t conv, uint64_t token, int64_t last_published);
  // The owner of `conv` follows a database that lost its messages after `last` (chat/README.md,
  // "A database that lost acked commits"): their seqs come again, and go out again.
  void OnRewind(int64_t conv, int64_t last);
  // An event of `conv` for its local sessions (one reference to `frame`, released here).
  // `published_us`: when the owner published it (monotonic µs), for the delivery latency.
  // Notifications (session_host_notify.cc): `json` to every ready session of `user` here (a
  // mention event); which of `users` the presence replica has online (anywhere, in cluster
  // mode), for the Notifier.
  void SendToUser(int64_t user, std::string_view json);
  std::vector<int64_t> OnlineAmong(const std::vector<int64_t>& users) const;

  void DeliverLocal(int64_t conv, int64_t seq, SharedFrame* frame, int64_t except_user,
                    bool droppable, int64_t published_us);
  // A conversation's new membership (every shard is told); `removed`'s sessions leave it.
  void OnMembersChanged(const storage::ConversationState& state,
                        const std::vector<int64_t>& removed);
  // A user's new presence (every shard is told; one reference to `frame`, released here). In
  // cluster mode a transition older (by seq) than the one the replica holds is ignored.
  void OnPresence(const PresenceOwner::Change& change, SharedFrame* frame);
  // Cluster mode: who is online on any node, as of transition `seq` (after this node may have
  // missed transitions): the replica and the watchers catch up, on users absent from
  // `online_sorted` only `with_departures` (ClusterPresence::Resync says why).
  void OnPresenceSnapshot(uint64_t seq, const std::vector<int64_t>& online_sorted,
                          bool with_departures);
  // Cluster mode: the revoked tokens, from the store (after this node may have missed
  // revocations): sessions with one of them close.
  void OnRevokedList(const std::vector<storage::RevokedToken>& revoked);
  // News for every device of a user (sessions/user_news.h: every shard of every node is told):
  // a revoked token's sessions close; a profile event goes to the user's own sessions and to
  // those that have the user as a contact (share a conversation with them), in
  // session_host_profiles.cc.
  void OnUserNews(const UserNews& news);
  // Calls (session_host_calls.cc): what a call's holder tells one device or every device of a
  // user here; a dead node's calls end for the devices here that were in them.
  void OnCallNote(const CallNote& note);
  void OnCallHolderDead(std::string_view node);
  // Once a second: forgets the rings past their timeout.
  void SweepRinging(int64_t now_ms);

  // `json` to one connection of this shard, if it is still open.
  void SendText(ConnId id, std::string_view json);
  // The answer to the session's outstanding sync or history request: sends it and lets the
  // requests behind it go.
  void FinishAnswer(ConnId id, std::string_view json);
  // FinishAnswer with an error event (counted in the metrics).
  void FinishWithError(ConnId id, std::string_view code, std::string_view message);

  size_t session_count() const { return sessions_.size(); }

  // --- For the operations' actions (chat/ops/)
  // ----------------------------------------------------
  ChatService& service() { return service_; }
  const Config& config() const { return config_; }
  ChatMetrics& metrics() { return metrics_; }
  const Clock& clock() const { return clock_; }
  uint32_t shard_id() const;
  ConversationLink& conversations() { return conversations_; }
  CallLink& calls() { return calls_; }
  Session* FindSession(ConnId id);
  // An error event to the session (counted in the metrics), echoing `cid` when given.
  void SendError(Session& session, std::string_view code, std::string_view message,
                 std::string_view cid = {});
  // An auth request's token, verified: the session holds it now (and its expiry), and is told
  // (auth_ok). session_host_tokens.cc.
  void RenewToken(Session& session, std::string jti, int64_t exp_s);

 private:
  // OnUserNews's two kinds.
  void OnRevoked(int64_t user, const std::string& jti, int64_t exp_ms);
  void OnProfile(int64_t user, const std::string& json);
  // This shard's view of a conversation some local session is in.
  struct LocalConv {
    std::vector<Session*> sessions;
    std::vector<int64_t> members;  // Sorted.
    uint64_t join_token = 0;       // Matches the owner's answer to our latest join.
    bool joined = false;           // The owner has answered: events now come here.
    int64_t last_seen = -1;        // Newest seq published to this shard; -1 unknown.
  };
  struct Presence {
    bool online = false;
    std::optional<int64_t> last_online;
    uint64_t seq = 0;  // Cluster mode: the transition this is (PresenceOwner::Change::seq).
  };

  // Open's and OpenDetached's common part: `session` is indexed and starts loading.
  void Start(std::unique_ptr<Session> owned, std::string jti, int64_t exp_s);
  // A request's JSON from the client, on any transport.
  void OnRequestText(Session& session, std::string_view text);
  // Forgets a session whose client is gone (every index, its user's count, its address).
  void End(Session& session);
  void OnSessionStart(ConnId id, storage::Result<storage::SessionStart> result);
  void MaybeReady(Session& session);
  void GoLive(Session& session, int64_t conv, ConvView& view);
  // Handles pending requests while the session can take them (ready, no answer outstanding,
  // connection not congested).
  void RunPending(Session& session);
  // Reads the request by its operation's wire and runs its action (chat/ops/), once the rate
  // limit admits it.
  void HandleRequest(Session& session, std::string_view text);
  bool AdmitRequest(Session& session, std::string_view cid);
  // The session's connection closed: the holders of its calls hear of it.
  void DropCalls(Session& session);
  // session_host_tokens.cc: the session's token and its expiry on the monotonic clock, and the
  // sweep's notice and close.
  void SetToken(Session& session, std::string jti, int64_t exp_s);
  void SweepTokens(int64_t now_ms);
  void CloseSession(Session& session, uint16_t code, std::string_view reason);
  // A (session, user) pair: `user` just became the session's contact.
  using Introduction = std::pair<Session*, int64_t>;
  // `introductions`, when given, gets the members the session did not watch before.
  void AddView(Session& session, int64_t conv, int64_t start_seq,
               const std::vector<int64_t>& members,
               std::vector<Introduction>* introductions = nullptr);
  void DropView(Session& session, int64_t conv);
  // Whether `user` is a new contact of the session (it shared no conversation with it before).
  bool Watch(Session& session, int64_t user);
  // A ready session learns a new contact's current presence (from the replica) at once: hello
  // listed only the contacts it had then.
  void Introduce(Session& session, int64_t user);
  void Unwatch(Session& session, int64_t user);
  // Sets the replica's presence of `user` and tells the sessions watching it.
  void SetPresence(int64_t user, const Presence& presence, SharedFrame* frame);

  Shard& shard_;
  ChatService& service_;
  ChatMetrics& metrics_;
  const Config& config_;
  const Clock& clock_;  // Monotonic for every duration; wall for timestamps.
  ops::RequestReader reader_;
  ConversationLink conversations_;
  UserLink users_;
  CallLink calls_;

  std::vector<std::unique_ptr<Session>> sessions_;
  std::unordered_map<int64_t, std::vector<Session*>> by_user_;
  std::unordered_map<int64_t, LocalConv> local_convs_;
  std::unordered_map<int64_t, std::vector<Session*>> watchers_;  // Contact → sessions.
  // Replicated from the users' owners: every online user, and the offline ones some local
  // session watches (others are offline, with the last_online the store has).
  std::unordered_map<int64_t, Presence> presence_;
  RevokedTokens revoked_;  // Replicated to every shard.
  // The sessions named by an id of their own (OpenDetached), by that id's generation.
  std::unordered_map<uint32_t, Session*> transport_sessions_;
  uint32_t next_transport_id_ = 0;

  // The calls ringing for each user (every shard hears every ring, from every node): what a
  // device that connects meanwhile finds in its hello (`ringing`). Forgotten when the ring
  // stops, when the user is removed from its conversation, or --call-ring-timeout after it
  // began if those notes were lost. At most --call-ring-max users per ring.
  struct Ringing {
    std::string call;
    int64_t conv = 0;      // A member removed from it forgets it (and hello lists only members').
    std::string json;      // The call_ring event.
    int64_t until_ms = 0;  // Monotonic.
  };
  void OnCallNoteFor(int64_t user, const CallNote& note);
  void ForgetRings(int64_t user, const std::function<bool(const Ringing&)>& which);
  std::unordered_map<int64_t, std::vector<Ringing>> ringing_;
  std::minstd_rand reconnect_jitter_;  // Drain's delays; seeded apart per shard and process.
  std::mt19937_64 device_ids_;         // Random parts of the sessions' device ids.
  uint64_t next_join_token_ = 0;
};

}  // namespace ringcast::chat
