// SessionHost: the chat sessions of one shard (/ws connections, and clients on other
// transports): their start (hello), their requests (paced, then run by their operations,
// chat/ops/), their end; and the receiving end of the owners' mail for them (chat/README.md,
// "Who owns what").
//
// Owner: its shard's thread (one per ChatShard). The transports reach a session by their own
// key: a connection (ConnectionSessions: /ws, which ChatShard hands on, and STOMP) or an id of
// its own (DetachedSessions: SSE and long polling). It keeps the sessions by user, and one role
// per job over them: their requests' way to their operations (RequestPacing), the
// conversations they are in and the owners' events for them (LocalConversations), the presence
// replica and each contact's watchers (ContactPresence), their tokens and the revoked-token
// replica (SessionTokens), the devices' part in calls (CallRings).
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
#include "chat/owners/presence.h"
#include "chat/protocol.h"
#include "chat/sessions/call_link.h"
#include "chat/sessions/call_rings.h"
#include "chat/sessions/connection_sessions.h"
#include "chat/sessions/contact_presence.h"
#include "chat/sessions/conversation_link.h"
#include "chat/sessions/detached_sessions.h"
#include "chat/sessions/local_conversations.h"
#include "chat/sessions/request_pacing.h"
#include "chat/sessions/session.h"
#include "chat/sessions/session_tokens.h"
#include "chat/sessions/user_link.h"
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

  // The transports' way in: the sessions of /ws and STOMP, found by their connection, and those
  // of the HTTP transports (SSE, long polling), which outlive their connections, by their id.
  ConnectionSessions& connections() { return connections_; }
  const ConnectionSessions& connections() const { return connections_; }
  DetachedSessions& detached() { return detached_; }
  // Whether the token id `jti` has been revoked (the replica: checking never leaves the shard).
  bool revoked(const std::string& jti) const { return tokens_.revoked(jti); }

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
  // `json` to one connection of this shard, if it is still open.
  void SendText(ConnId id, std::string_view json);
  // The answer to the session's outstanding sync or history request: sends it and lets the
  // requests behind it go.
  void FinishAnswer(ConnId id, std::string_view json);
  // FinishAnswer with an error event (counted in the metrics).
  void FinishWithError(ConnId id, std::string_view code, std::string_view message);

  size_t session_count() const { return sessions_.size(); }

  // The roles (each says what mail it takes).
  RequestPacing& requests() { return requests_; }
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
  // Ends the session: its client is told (`code`, `reason`); its transport's way in then ends
  // it (ConnectionSessions::OnClose, DetachedSessions::Release).
  void CloseSession(Session& session, uint16_t code, std::string_view reason);

  // --- For the transports' ways in (ConnectionSessions, DetachedSessions)
  // A new session, its id, user, address and transport set: it is indexed and starts loading
  // (the store reads its conversations and contacts, the user's owner counts it), and gets
  // hello once ready. `exp_s`: its token's exp (wall clock, seconds): it closes then (4001)
  // unless an auth request gives it a newer token (SessionTokens).
  void Start(std::unique_ptr<Session> owned, std::string jti, int64_t exp_s);
  // Forgets a session whose client is gone (every index, its user's count, its address).
  void End(Session& session);

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
  void OnSessionStart(ConnId id, storage::Result<storage::SessionStart> result);

  Shard& shard_;
  ChatService& service_;
  ChatMetrics& metrics_;
  const Config& config_;
  const Clock& clock_;  // Monotonic for every duration; wall for timestamps.
  ConversationLink conversations_;
  UserLink users_;
  CallLink calls_;

  std::vector<std::unique_ptr<Session>> sessions_;
  std::unordered_map<int64_t, std::vector<Session*>> by_user_;
  ContactPresence presence_;
  SessionTokens tokens_;
  LocalConversations local_convs_;
  CallRings rings_;
  RequestPacing requests_;
  ConnectionSessions connections_;
  DetachedSessions detached_;

  std::minstd_rand reconnect_jitter_;  // Drain's delays; seeded apart per shard and process.
  std::mt19937_64 device_ids_;         // Random parts of the sessions' device ids.
};

}  // namespace ringcast::chat
