// SessionHost: the chat sessions of one shard (/ws connections, and clients on other
// transports): their start (hello), their requests (paced, then run by their operations,
// chat/ops/), their end; and the receiving end of the owners' mail for them (chat/README.md,
// "Who owns what").
//
// Owner: its shard's thread (one per ChatShard, which hands it the /ws events). It keeps the
// sessions by user, and one role per job over them: the conversations they are in and the
// owners' events for them (LocalConversations), the presence replica and each contact's
// watchers (ContactPresence), their tokens and the revoked-token replica (SessionTokens), the
// devices' part in calls (CallRings).
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
#include "chat/sessions/call_rings.h"
#include "chat/sessions/contact_presence.h"
#include "chat/sessions/conversation_link.h"
#include "chat/sessions/local_conversations.h"
#include "chat/sessions/session.h"
#include "chat/sessions/session_tokens.h"
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

class SessionHost {
 public:
  SessionHost(Shard& shard, ChatService& service, ChatMetrics& metrics);
  ~SessionHost();

  // An authenticated connection just upgraded to /ws: its session starts (the store loads its
  // conversations and contacts, the user's owner counts it) and gets `hello` once ready.
  // `address`: the client address counted under --max-conns-per-ip, released at the close.
  // `exp_s`: the token's exp (wall clock, seconds): the session closes then (4001) unless an
  // auth request gives it a newer token (SessionTokens). `transport`: how its events
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
  bool revoked(const std::string& jti) const { return tokens_.revoked(jti); }

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

  // --- Mail from the owners: the roles' own, and these ------------------------------------------
  // The user's owner has counted `id` (or refused it: too many connections).
  void OnAttached(ConnId id, bool accepted);
  // `json` to every ready session of `user` here (a mention event).
  void SendToUser(int64_t user, std::string_view json);
  // News for every device of a user (sessions/user_news.h: every shard of every node is told):
  // a revoked token's sessions close; a profile event goes to the user's own sessions and to
  // those that have the user as a contact (share a conversation with them).
  void OnUserNews(const UserNews& news);
  // `json` to one connection of this shard, if it is still open.
  void SendText(ConnId id, std::string_view json);
  // The answer to the session's outstanding sync or history request: sends it and lets the
  // requests behind it go.
  void FinishAnswer(ConnId id, std::string_view json);
  // FinishAnswer with an error event (counted in the metrics).
  void FinishWithError(ConnId id, std::string_view code, std::string_view message);

  size_t session_count() const { return sessions_.size(); }

  // The roles (each says what mail it takes).
  LocalConversations& local_convs() { return local_convs_; }
  ContactPresence& presence() { return presence_; }
  SessionTokens& tokens() { return tokens_; }
  CallRings& rings() { return rings_; }
  // The sessions, and those of `user` here, for the roles.
  const std::vector<std::unique_ptr<Session>>& sessions() const { return sessions_; }
  std::span<Session* const> SessionsOf(int64_t user) const;
  // Ready once its conversations are loaded and joined and the user's owner has counted it;
  // then hello, then whatever the client sent meanwhile.
  void MaybeReady(Session& session);
  // Ends the session: its client is told (`code`, `reason`); OnClose or Release follows.
  void CloseSession(Session& session, uint16_t code, std::string_view reason);

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

 private:
  // OnUserNews's profile event.
  void OnProfile(int64_t user, const std::string& json);

  // Open's and OpenDetached's common part: `session` is indexed and starts loading.
  void Start(std::unique_ptr<Session> owned, std::string jti, int64_t exp_s);
  // A request's JSON from the client, on any transport.
  void OnRequestText(Session& session, std::string_view text);
  // Forgets a session whose client is gone (every index, its user's count, its address).
  void End(Session& session);
  void OnSessionStart(ConnId id, storage::Result<storage::SessionStart> result);
  // Handles pending requests while the session can take them (ready, no answer outstanding,
  // connection not congested).
  void RunPending(Session& session);
  // Reads the request by its operation's wire and runs its action (chat/ops/), once the rate
  // limit admits it.
  void HandleRequest(Session& session, std::string_view text);
  bool AdmitRequest(Session& session, std::string_view cid);

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
  ContactPresence presence_;
  SessionTokens tokens_;
  LocalConversations local_convs_;
  CallRings rings_;
  // The sessions named by an id of their own (OpenDetached), by that id's generation.
  std::unordered_map<uint32_t, Session*> transport_sessions_;
  uint32_t next_transport_id_ = 0;

  std::minstd_rand reconnect_jitter_;  // Drain's delays; seeded apart per shard and process.
  std::mt19937_64 device_ids_;         // Random parts of the sessions' device ids.
};

}  // namespace ringcast::chat
