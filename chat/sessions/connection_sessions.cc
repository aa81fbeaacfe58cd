// The sessions found by their connection: /ws and STOMP (chat/sessions/connection_sessions.h).
#include "chat/sessions/connection_sessions.h"

#include "chat/sessions/session_host.h"
#include "core/runtime/shard.h"

namespace ringcast::chat {
namespace {

Session* SessionOf(const Connection& conn) { return reinterpret_cast<Session*>(conn.user_data); }

}  // namespace

void ConnectionSessions::Open(Connection& conn, int64_t user, std::string jti, int64_t exp_s,
                              std::string address, std::unique_ptr<SessionTransport> transport) {
  auto owned = std::make_unique<Session>();
  owned->conn = &conn;
  owned->transport = std::move(transport);
  owned->id = conn.id();
  owned->user = user;
  owned->address = std::move(address);
  conn.user_data = reinterpret_cast<uint64_t>(owned.get());
  host_.Start(std::move(owned), std::move(jti), exp_s);
}

Session* ConnectionSessions::Find(ConnId id) const {
  Connection* conn = shard_.Find(id);
  return conn == nullptr ? nullptr : SessionOf(*conn);
}

void ConnectionSessions::OnMessage(Connection& conn, ws::Opcode opcode,
                                   std::span<const uint8_t> payload) {
  Session* session = SessionOf(conn);
  if (session == nullptr || session->phase == Session::Phase::kGone) return;
  if (opcode != ws::Opcode::kText) {
    session->last_heartbeat_ms = host_.clock().MonotonicMs();
    if (!host_.requests().Admit(*session, {})) return;
    return host_.SendError(*session, "bad_request",
                           "binary frames are not part of the chat protocol");
  }
  host_.requests().OnText(
      *session, std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
}

void ConnectionSessions::OnHeartbeat(Connection& conn) {
  if (Session* session = SessionOf(conn)) session->last_heartbeat_ms = host_.clock().MonotonicMs();
}

void ConnectionSessions::OnDrain(Connection& conn) {
  if (Session* session = SessionOf(conn)) host_.requests().RunPending(*session);
}

void ConnectionSessions::OnClose(Connection& conn) {
  Session* session = SessionOf(conn);
  if (session == nullptr) return;
  conn.user_data = 0;
  host_.End(*session);
}

std::string ConnectionSessions::UserOf(const Connection& conn) const {
  const Session* session = SessionOf(conn);
  return session == nullptr || session->user == 0 ? std::string() : std::to_string(session->user);
}

}  // namespace ringcast::chat
