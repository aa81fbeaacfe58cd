// The chat sessions of one shard: their start, their end, the owners' mail for them
// (chat/sessions/session_host.h).
#include "chat/sessions/session_host.h"

#include "chat/chat_shard.h"
#include "chat/frame_ref.h"
#include "chat/sessions/erase_one.h"
#include "core/log.h"
#include "core/net/shared_frame.h"
#include "core/runtime/shard.h"
#include "proto/ws_frame.h"

namespace ringcast::chat {

SessionHost::SessionHost(Shard& shard, ChatService& service, ChatMetrics& metrics)
    : shard_(shard),
      service_(service),
      metrics_(metrics),
      config_(service.config()),
      clock_(service.clock()),
      conversations_(service, shard.id()),
      users_(service),
      calls_(service),
      tokens_(*this, service.initially_revoked()),
      local_convs_(*this, conversations_, presence_, metrics),
      rings_(*this),
      requests_(*this, RequestLimits{.max_body = config_.max_chat_body}),
      connections_(*this, shard),
      detached_(*this, shard.id()),
      reconnect_jitter_(std::random_device{}()),
      device_ids_(std::random_device{}()) {}

SessionHost::~SessionHost() = default;

uint32_t SessionHost::shard_id() const { return shard_.id(); }

Session* SessionHost::FindSession(ConnId id) {
  return id.slot == DetachedSessions::kSlot ? detached_.Find(id) : connections_.Find(id);
}

void SessionHost::Start(std::unique_ptr<Session> owned, std::string jti, int64_t exp_s) {
  Session& session = *owned;
  tokens_.Set(session, std::move(jti), exp_s);
  session.last_heartbeat_ms = clock_.MonotonicMs();
  session.bucket = TokenBucket(config_.msg_rate, 2.0 * config_.msg_rate, clock_.MonotonicMs());
  session.device = MakeDeviceId(device_ids_(), shard_.id());
  session.index = sessions_.size();
  sessions_.push_back(std::move(owned));
  by_user_[session.user].push_back(&session);

  const ConnId id = session.id;
  const int64_t user = session.user;
  users_.Attach(user, id);
  service_.store().StartSession(
      user, service_.ReplyOn<storage::SessionStart>(
                shard_.id(), [id](ChatShard& self, storage::Result<storage::SessionStart> r) {
                  self.sessions().OnSessionStart(id, std::move(r));
                }));
}

void SessionHost::OnSessionStart(ConnId id, storage::Result<storage::SessionStart> result) {
  Session* session = FindSession(id);
  if (session == nullptr) return;
  if (!result.ok()) {
    if (result.status().errc() != storage::Errc::kUnavailable) {  // Else logged by the store.
      RC_LOG(kWarn, "shard %u: cannot start a chat session: %s", shard_.id(),
             result.status().ToString().c_str());
    }
    return CloseSession(*session, 1011, "storage unavailable");
  }
  for (const storage::Contact& contact : result->contacts) {
    // Only when this shard has heard nothing newer from the contact's owner.
    presence_.Remember(contact.user, contact.last_online);
  }
  for (const storage::SessionStart::Conversation& conv : result->conversations) {
    local_convs_.AddView(*session, conv.id, conv.last_seq, conv.members);
  }
  session->loaded = true;
  MaybeReady(*session);
}

void SessionHost::OnAttached(ConnId id, bool accepted) {
  Session* session = FindSession(id);
  if (session == nullptr) return;
  if (!accepted) return CloseSession(*session, 1008, "too many connections for this user");
  session->attached = true;
  MaybeReady(*session);
}

// Ready once its conversations are loaded and joined and the user's owner has counted it; then
// hello, then whatever the client sent meanwhile.
void SessionHost::MaybeReady(Session& session) {
  if (session.phase != Session::Phase::kStarting || !session.loaded || !session.attached ||
      !local_convs_.AllJoined(session)) {
    return;
  }
  session.phase = Session::Phase::kReady;
  for (auto& [conv, view] : session.convs) local_convs_.GoLive(session, conv, view);
  session.Send(EncodeHello(Hello{.user = session.user,
                                 .instance = service_.instance_id(),
                                 .expires_at = session.token_exp_ms,
                                 .device = session.device,
                                 .ringing = rings_.RingingFor(session),
                                 .presence = presence_.ContactsOf(session)}));
  requests_.RunPending(session);
}

void SessionHost::CloseSession(Session& session, uint16_t code, std::string_view reason) {
  if (session.phase == Session::Phase::kGone) return;
  session.phase = Session::Phase::kGone;
  session.Close(code, reason);  // OnClose follows and cleans up.
}

void SessionHost::End(Session& ending) {
  Session* session = &ending;
  session->phase = Session::Phase::kGone;
  if (session->id.slot == DetachedSessions::kSlot) detached_.Forget(*session);
  rings_.DropCalls(*session);
  std::vector<int64_t> convs;
  for (const auto& [conv, view] : session->convs) convs.push_back(conv);
  for (int64_t conv : convs) local_convs_.DropView(*session, conv);
  auto user = by_user_.find(session->user);
  EraseOne(user->second, session);
  if (user->second.empty()) by_user_.erase(user);
  users_.Detach(session->user, session->id);
  HttpApi::ConnectionClosed(service_, std::move(session->address));
  size_t index = session->index;
  sessions_[index] = std::move(sessions_.back());
  sessions_[index]->index = index;
  sessions_.pop_back();  // Destroys the session (or the moved-from slot when it was last).
}

void SessionHost::Drain() {
  // A single node: nothing else serves these clients meanwhile, and a stop is not always a
  // restart, so 1001 "going away" (the engine's) is the honest close; 1012 "service restart"
  // tells a client the service goes on, which in cluster mode it does, on the other nodes.
  if (service_.cluster() == nullptr) return;
  std::uniform_int_distribution<uint32_t> after_ms(0, config_.reconnect_jitter_ms);
  // Closing defers each OnClose to the end of the loop iteration: sessions_ stays as it is.
  for (const std::unique_ptr<Session>& session : sessions_) {
    if (session->phase == Session::Phase::kGone) continue;
    // Queued behind the frames already waiting for this connection, the close behind it.
    session->Send(EncodeReconnect(after_ms(reconnect_jitter_)));
    CloseSession(*session, uint16_t(ws::CloseCode::kServiceRestart), "service restart");
  }
}

void SessionHost::Sweep(int64_t now_ms) {
  const int64_t timeout_ms = int64_t{config_.presence_timeout_s} * 1000;
  std::vector<Session*> silent;
  for (auto& session : sessions_) {
    if (now_ms - session->last_heartbeat_ms > timeout_ms) silent.push_back(session.get());
  }
  for (Session* session : silent) CloseSession(*session, 1008, "presence timeout");
  tokens_.Sweep(now_ms);
  rings_.Sweep(now_ms);
}

void SessionHost::SendError(Session& session, std::string_view code, std::string_view message,
                            std::string_view cid) {
  metrics_.CountError(code);
  session.Send(EncodeError(code, message, cid));
}

void SessionHost::FinishWithError(ConnId id, std::string_view code, std::string_view message) {
  metrics_.CountError(code);
  FinishAnswer(id, EncodeError(code, message, {}));
}

void SessionHost::FinishAnswer(ConnId id, std::string_view json) {
  Session* session = FindSession(id);
  if (session == nullptr) return;
  session->answer_outstanding = false;
  if (session->phase != Session::Phase::kReady) return;
  session->Send(json);
  requests_.RunPending(*session);
}

std::span<Session* const> SessionHost::SessionsOf(int64_t user) const {
  auto it = by_user_.find(user);
  return it == by_user_.end() ? std::span<Session* const>() : std::span<Session* const>(it->second);
}

void SessionHost::SendText(ConnId id, std::string_view json) {
  if (Session* session = FindSession(id)) session->Send(json);
}

void SessionHost::SendToUser(int64_t user, std::string_view json) {
  for (Session* session : SessionsOf(user)) {
    if (session->phase == Session::Phase::kReady) session->Send(json);
  }
}

}  // namespace ringcast::chat
