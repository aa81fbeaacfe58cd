// The sessions of the HTTP transports, by their ids (chat/sessions/detached_sessions.h).
#include "chat/sessions/detached_sessions.h"

#include "chat/sessions/session_host.h"

namespace ringcast::chat {

ConnId DetachedSessions::Open(int64_t user, std::string jti, int64_t exp_s, std::string address,
                              std::unique_ptr<SessionTransport> transport) {
  auto owned = std::make_unique<Session>();
  // Generations wrap after 2^32 sessions; one still open with the next number is skipped.
  do {
    ++next_generation_;
  } while (by_generation_.contains(next_generation_));
  owned->id = ConnId{shard_id_, kSlot, next_generation_};
  owned->transport = std::move(transport);
  owned->user = user;
  owned->address = std::move(address);
  by_generation_[next_generation_] = owned.get();
  const ConnId id = owned->id;
  host_.Start(std::move(owned), std::move(jti), exp_s);
  return id;
}

Session* DetachedSessions::Find(ConnId id) const {
  if (id.slot != kSlot || id.shard != shard_id_) return nullptr;
  auto it = by_generation_.find(id.generation);
  return it == by_generation_.end() ? nullptr : it->second;
}

void DetachedSessions::Forget(const Session& session) {
  by_generation_.erase(session.id.generation);
}

void DetachedSessions::OnRequest(ConnId id, std::string_view text) {
  Session* session = Find(id);
  if (session == nullptr || session->phase == Session::Phase::kGone) return;
  host_.requests().OnText(*session, text);
}

void DetachedSessions::OnHeartbeat(ConnId id) {
  if (Session* session = Find(id)) session->last_heartbeat_ms = host_.clock().MonotonicMs();
}

void DetachedSessions::SetConnection(ConnId id, Connection* conn) {
  if (Session* session = Find(id)) session->conn = conn;
}

void DetachedSessions::OnDrain(ConnId id) {
  if (Session* session = Find(id)) host_.requests().RunPending(*session);
}

void DetachedSessions::Close(ConnId id, uint16_t code, std::string_view reason) {
  if (Session* session = Find(id)) host_.CloseSession(*session, code, reason);
}

void DetachedSessions::Release(ConnId id) {
  if (Session* session = Find(id)) host_.End(*session);
}

}  // namespace ringcast::chat
