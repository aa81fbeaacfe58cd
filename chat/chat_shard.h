// ChatShard: the chat service on one shard (chat/README.md): the shard's Application and the
// handler of its /ws connections, and the target of every chat mail (ChatService::Post).
//
// Owner: its shard's thread; other shards reach it only through ChatService::Post. It owns one
// object per role and dispatches to them:
//   - HttpApi: what the chat HTTP routes share (token checks, answers, connections per
//     address); the routes are their families' rows (chat/api/http_routes.h);
//   - AttemptCounter: logins and registrations counted over the service;
//   - OpsApi: the operator routes (/ready, /api/cluster);
//   - SessionHost: this shard's sessions (the chat WebSocket connections accepted here), with
//     the local indexes fan-out needs, the presence and revoked-token replicas;
//   - SseHub: the HTTP transports' channels (SSE streams, long polls) of the sessions opened
//     here, and the streamed answers on this shard's connections;
//   - ConversationOwner: the conversations with ConversationOwnerShard(id) == this shard: it
//     knows which shards have sessions in each, and publishes each committed message, receipt
//     and typing event to them, in commit (= seq) order;
//   - CallRegistry: the calls held here (those started from this node in the conversations
//     this shard owns): their state, busy marks, notes and records;
//   - UserOwner: the users with UserOwnerShard(id) == this shard: it counts their connections on
//     every shard, decides their presence (with the reconnect grace), and enforces the per-user
//     connection limit;
//   - StompGateway: this shard's STOMP connections (/stomp): CONNECT, then a SessionHost session
//     whose events reach the client as STOMP frames (chat/stomp/).
// Mail reaches a role through its accessor (`self.sessions().local_convs().OnJoined(...)`); the
// roles reach each other across shards only by mail, and the SessionHost reaches the owners only
// through its ConversationLink and UserLink.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "chat/api/attempt_counter.h"
#include "chat/api/http_api.h"
#include "chat/api/ops_api.h"
#include "chat/api/upload_api.h"
#include "chat/calls/call_registry.h"
#include "chat/chat_metrics.h"
#include "chat/owners/conversation_owner.h"
#include "chat/owners/user_owner.h"
#include "chat/service.h"
#include "chat/sessions/session_host.h"
#include "chat/sessions/sse_hub.h"
#include "chat/stomp/stomp_gateway.h"
#include "core/net/connection.h"
#include "core/net/http_exchange.h"
#include "core/runtime/clock.h"

namespace ringcast::chat {

class ChatShard final : public Application, public WebSocketHandler {
 public:
  ChatShard(Shard& shard, ChatService& service);
  ~ChatShard() override;

  // Application: the chat's routes by their table (chat/api/http_routes.h: HttpApi, UploadApi
  // and OpsApi), the rest (/health, /echo, /raw/, static files) to the default application.
  void OnRequest(HttpExchange& exchange) override;
  bool StreamsBody(const http::Request& request) const override;
  // Once a second, each role's sweep.
  void OnTick() override;
  // SIGTERM: the SessionHost's drain (cluster mode: reconnect hint and 1012).
  void OnShutdown() override;
  // No store reply on its way to any shard (ChatService::replies_in_flight).
  bool Drained() const override;
  // WebSocketHandler (the /ws route): to the SessionHost.
  void OnMessage(Connection& conn, ws::Opcode opcode, std::span<const uint8_t> payload) override;
  void OnHeartbeat(Connection& conn) override;
  void OnDrain(Connection& conn) override;
  void OnClose(Connection& conn) override;
  std::string AccessLogUser(const Connection& conn) const override;
  // The longest chat request (RequestLimits::max_request_bytes under --max-chat-body).
  uint64_t MaxMessageSize() const override;
  void CollectMetrics(MetricSet& out) const override;

  // The roles, for the mail that reaches this shard.
  HttpApi& http_api() { return http_api_; }
  AttemptCounter& attempts() { return attempts_; }
  UploadApi& uploads() { return uploads_; }
  OpsApi& ops_api() { return ops_api_; }
  SessionHost& sessions() { return sessions_; }
  SseHub& sse() { return sse_; }
  ConversationOwner& conversations() { return conversations_; }
  UserOwner& users() { return users_; }
  CallRegistry& calls() { return calls_; }
  StompGateway& stomp() { return stomp_; }
  ChatService& service() { return service_; }

 private:
  ChatService& service_;
  Shard& shard_;
  const Clock& clock_;                     // Monotonic for every duration.
  std::unique_ptr<Application> fallback_;  // /health, /echo, /raw/.
  ChatMetrics metrics_;                    // Counted by the roles below.
  SessionHost sessions_;
  SseHub sse_;  // Its sessions are sessions_'s: built after it, gone before it.
  ConversationOwner conversations_;
  UserOwner users_;
  CallRegistry calls_;
  StompGateway stomp_;
  HttpApi http_api_;
  AttemptCounter attempts_;
  UploadApi uploads_;
  OpsApi ops_api_;
  int64_t next_sweep_ms_;  // Monotonic: the next once-a-second sweep.
};

}  // namespace ringcast::chat
