// DetachedSessions: the chat sessions of one shard that outlive each of their connections, those
// of the HTTP transports (SSE and long polling: sessions/sse_hub.h). A /ws session is found by
// its connection; one of these is named by an id of its own (slot kSlot, never a connection's),
// which its transport calls it by: its events all go through that transport, its requests come
// in by OnRequest, and it ends once the transport lets it go (Release). Everything else about
// it (its start, pacing, answers, close) is its SessionHost's, as for any session: this only
// finds it by its id.
//
// Owner: its SessionHost's shard (one per SessionHost, which finds the sessions of ids with
// slot kSlot here).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "chat/sessions/session_transport.h"
#include "core/net/connection.h"

namespace ringcast::chat {

class SessionHost;
struct Session;

class DetachedSessions {
 public:
  static constexpr uint32_t kSlot = UINT32_MAX;

  DetachedSessions(SessionHost& host, uint32_t shard_id) : host_(host), shard_id_(shard_id) {}

  // --- The transport's calls (SseHub). All but Open are no-ops for an unknown id.
  // A new session, started as ConnectionSessions::Open starts a /ws one; its id.
  ConnId Open(int64_t user, std::string jti, int64_t exp_s, std::string address,
              std::unique_ptr<SessionTransport> transport);
  // One request of the chat protocol (a /ws text message's JSON), and a heartbeat.
  void OnRequest(ConnId id, std::string_view text);
  void OnHeartbeat(ConnId id);
  // The connection the session's events leave by now (null: none), for its congestion.
  void SetConnection(ConnId id, Connection* conn);
  // After SessionTransport::NotifyWhenUncongested, or a connection's drain: requests may run.
  void OnDrain(ConnId id);
  // Ends the session (SessionHost::CloseSession: its transport is told) / forgets a session
  // whose transport has closed it (as ConnectionSessions::OnClose does for /ws).
  void Close(ConnId id, uint16_t code, std::string_view reason);
  void Release(ConnId id);

  // --- The SessionHost's
  Session* Find(ConnId id) const;
  // `session` has ended: its id is free again.
  void Forget(const Session& session);

 private:
  SessionHost& host_;
  const uint32_t shard_id_;
  std::unordered_map<uint32_t, Session*> by_generation_;  // The sessions, by their id's.
  uint32_t next_generation_ = 0;
};

}  // namespace ringcast::chat
