// ConnectionSessions: the chat sessions of one shard that live as long as their connection: a
// /ws connection's (ChatShard, the route's WebSocketHandler, hands on its events) and a STOMP
// connection's (StompGateway). The connection's user_data is its session; these calls find the
// session by it and hand the event to the session's SessionHost, which does the rest as for any
// session. The sessions that outlive their connections are DetachedSessions'.
//
// Owner: its SessionHost's shard (one per SessionHost, which finds the sessions of connection
// ids here).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "chat/sessions/session_transport.h"
#include "core/net/connection.h"
#include "proto/ws_frame.h"

namespace ringcast {
class Shard;
}

namespace ringcast::chat {

class SessionHost;
struct Session;

class ConnectionSessions {
 public:
  ConnectionSessions(SessionHost& host, Shard& shard) : host_(host), shard_(shard) {}

  // An authenticated connection just upgraded to /ws: its session starts (the store loads its
  // conversations and contacts, the user's owner counts it) and gets `hello` once ready.
  // `address`: the client address counted under --max-conns-per-ip, released at the close.
  // `exp_s`: the token's exp (wall clock, seconds): the session closes then (4001) unless an
  // auth request gives it a newer token (SessionTokens). `transport`: how its events
  // reach a client on another transport than JSON over `conn`'s WebSocket (none for /ws).
  void Open(Connection& conn, int64_t user, std::string jti, int64_t exp_s, std::string address,
            std::unique_ptr<SessionTransport> transport = nullptr);
  // The connection's events.
  void OnMessage(Connection& conn, ws::Opcode opcode, std::span<const uint8_t> payload);
  void OnHeartbeat(Connection& conn);
  void OnDrain(Connection& conn);
  void OnClose(Connection& conn);
  // The user id of a connection's session, as text ("" when it has none), for the access log.
  std::string UserOf(const Connection& conn) const;

  // The SessionHost's: the session of the connection `id` names, if it is still open.
  Session* Find(ConnId id) const;

 private:
  SessionHost& host_;
  Shard& shard_;
};

}  // namespace ringcast::chat
