// Chat sessions: one per /ws connection, on the shard that accepted it.
#include "chat/sessions/session_host.h"

#include <algorithm>

#include "chat/chat_shard.h"
#include "chat/frame_ref.h"
#include "chat/ops/actions.h"
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
      reader_(RequestLimits{.max_body = config_.max_chat_body}),
      conversations_(service, shard.id()),
      users_(service),
      calls_(service),
      tokens_(*this, service.initially_revoked()),
      local_convs_(*this, conversations_, presence_, metrics),
      rings_(*this),
      reconnect_jitter_(std::random_device{}()),
      device_ids_(std::random_device{}()) {}

SessionHost::~SessionHost() = default;

uint32_t SessionHost::shard_id() const { return shard_.id(); }

Session* SessionHost::FindSession(ConnId id) {
  if (id.slot == kTransportSlot) {
    if (id.shard != shard_.id()) return nullptr;
    auto it = transport_sessions_.find(id.generation);
    return it == transport_sessions_.end() ? nullptr : it->second;
  }
  Connection* conn = shard_.Find(id);
  return conn == nullptr ? nullptr : reinterpret_cast<Session*>(conn->user_data);
}

void SessionHost::Open(Connection& conn, int64_t user, std::string jti, int64_t exp_s,
                       std::string address, std::unique_ptr<SessionTransport> transport) {
  auto owned = std::make_unique<Session>();
  owned->conn = &conn;
  owned->transport = std::move(transport);
  owned->id = conn.id();
  owned->user = user;
  owned->address = std::move(address);
  conn.user_data = reinterpret_cast<uint64_t>(owned.get());
  Start(std::move(owned), std::move(jti), exp_s);
}

ConnId SessionHost::OpenDetached(int64_t user, std::string jti, int64_t exp_s, std::string address,
                                 std::unique_ptr<SessionTransport> transport) {
  auto owned = std::make_unique<Session>();
  // Generations wrap after 2^32 sessions; one still open with the next number is skipped.
  do {
    ++next_transport_id_;
  } while (transport_sessions_.contains(next_transport_id_));
  owned->id = ConnId{shard_.id(), kTransportSlot, next_transport_id_};
  owned->transport = std::move(transport);
  owned->user = user;
  owned->address = std::move(address);
  transport_sessions_[next_transport_id_] = owned.get();
  const ConnId id = owned->id;
  Start(std::move(owned), std::move(jti), exp_s);
  return id;
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

  JsonWriter hello;
  hello.BeginObject()
      .Field("type", "hello")
      .Field("user", session.user)
      .Field("instance", service_.instance_id())
      .Field("expires_at", session.token_exp_ms)
      .Field("device", int64_t(session.device))
      .Key("ringing")
      .BeginArray();
  rings_.WriteRinging(hello, session);
  hello.EndArray().Key("presence");
  hello.BeginArray();
  std::vector<int64_t> contacts;
  for (const auto& [user, shared] : session.contacts) contacts.push_back(user);
  std::sort(contacts.begin(), contacts.end());
  for (int64_t user : contacts) {
    const ContactPresence::Status status = presence_.Of(user);
    hello.BeginObject()
        .Field("user", user)
        .Field("status", status.online ? "online" : "offline")
        .Key("last_online");
    status.last_online ? hello.Int(*status.last_online) : hello.Null();
    hello.EndObject();
  }
  session.Send(hello.EndArray().EndObject().str());
  RunPending(session);
}

void SessionHost::RunPending(Session& session) {
  while (!session.pending.empty() && session.phase == Session::Phase::kReady &&
         !session.answer_outstanding) {
    if (session.congested()) return session.NotifyWhenUncongested();
    std::string text = session.pending.Pop();
    HandleRequest(session, text);
  }
}

void SessionHost::OnDrain(Connection& conn) {
  if (auto* session = reinterpret_cast<Session*>(conn.user_data)) RunPending(*session);
}

void SessionHost::CloseSession(Session& session, uint16_t code, std::string_view reason) {
  if (session.phase == Session::Phase::kGone) return;
  session.phase = Session::Phase::kGone;
  session.Close(code, reason);  // OnClose follows and cleans up.
}

std::string SessionHost::UserOf(const Connection& conn) const {
  const auto* session = reinterpret_cast<const Session*>(conn.user_data);
  return session == nullptr || session->user == 0 ? std::string() : std::to_string(session->user);
}

void SessionHost::OnClose(Connection& conn) {
  auto* session = reinterpret_cast<Session*>(conn.user_data);
  if (session == nullptr) return;
  conn.user_data = 0;
  End(*session);
}

void SessionHost::End(Session& ending) {
  Session* session = &ending;
  session->phase = Session::Phase::kGone;
  if (session->id.slot == kTransportSlot) transport_sessions_.erase(session->id.generation);
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

void SessionHost::OnHeartbeat(Connection& conn) {
  if (auto* session = reinterpret_cast<Session*>(conn.user_data)) {
    session->last_heartbeat_ms = clock_.MonotonicMs();
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

// --- Requests --------------------------------------------------------------------------------

void SessionHost::OnMessage(Connection& conn, ws::Opcode opcode, std::span<const uint8_t> payload) {
  auto* session = reinterpret_cast<Session*>(conn.user_data);
  if (session == nullptr || session->phase == Session::Phase::kGone) return;
  if (opcode != ws::Opcode::kText) {
    session->last_heartbeat_ms = clock_.MonotonicMs();
    if (!AdmitRequest(*session, {})) return;
    return SendError(*session, "bad_request", "binary frames are not part of the chat protocol");
  }
  OnRequestText(*session,
                std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
}

void SessionHost::OnRequestText(Session& session, std::string_view text) {
  session.last_heartbeat_ms = clock_.MonotonicMs();
  if (session.phase == Session::Phase::kReady && session.pending.empty() &&
      !session.answer_outstanding && !session.congested()) {
    return HandleRequest(session, text);
  }
  // Its turn comes after hello, after the answer on its way, or once the client has read enough.
  if (!session.pending.Push(text)) {
    return CloseSession(session, 1008,
                        session.phase == Session::Phase::kStarting
                            ? "too many requests before hello"
                            : "too many requests waiting for answers");
  }
  RunPending(session);  // Arms the drain notice when congestion is what holds it.
}

void SessionHost::OnTransportRequest(ConnId id, std::string_view text) {
  Session* session = FindSession(id);
  if (session == nullptr || session->phase == Session::Phase::kGone) return;
  OnRequestText(*session, text);
}

void SessionHost::OnTransportHeartbeat(ConnId id) {
  if (Session* session = FindSession(id)) session->last_heartbeat_ms = clock_.MonotonicMs();
}

void SessionHost::SetTransportConnection(ConnId id, Connection* conn) {
  if (Session* session = FindSession(id)) session->conn = conn;
}

void SessionHost::OnTransportDrain(ConnId id) {
  if (Session* session = FindSession(id)) RunPending(*session);
}

void SessionHost::CloseTransportSession(ConnId id, uint16_t code, std::string_view reason) {
  if (Session* session = FindSession(id)) CloseSession(*session, code, reason);
}

void SessionHost::Release(ConnId id) {
  if (Session* session = FindSession(id)) End(*session);
}

// Token bucket: msg_rate per second, bursts of twice that. A client that keeps going after
// being refused a burst's worth in a row is closed.
bool SessionHost::AdmitRequest(Session& session, std::string_view cid) {
  if (session.bucket.TryTake(clock_.MonotonicMs())) {
    session.refused_in_a_row = 0;
    return true;
  }
  if (++session.refused_in_a_row > 2 * config_.msg_rate) {
    CloseSession(session, 1008, "rate limit exceeded");
  } else {
    SendError(session, "rate_limited", "too many requests; slow down", cid);
  }
  return false;
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

void SessionHost::HandleRequest(Session& session, std::string_view text) {
  ops::Request request;
  RequestError error;
  const ops::Wire* wire = reader_.Parse(text, &request, &error);
  if (!AdmitRequest(session, error.cid)) return;
  if (wire == nullptr) return session.Send(EncodeRequestError(error));
  ops::ActionOf (*wire)(ops::OpCall{*this, session, error.cid}, request);
}

void SessionHost::FinishAnswer(ConnId id, std::string_view json) {
  Session* session = FindSession(id);
  if (session == nullptr) return;
  session->answer_outstanding = false;
  if (session->phase != Session::Phase::kReady) return;
  session->Send(json);
  RunPending(*session);
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

void SessionHost::OnUserNews(const UserNews& news) {
  switch (news.kind) {
    case UserNews::Kind::kRevoked:
      return tokens_.OnRevoked(news.user, news.text, news.until_ms);
    case UserNews::Kind::kProfile:
      return OnProfile(news.user, news.text);
  }
}

// The profile event (proto/PROTOCOL.md, "Profiles"): a user's new display name, avatar or
// status reaches their own sessions and every session that shares a conversation with them (the
// contacts the presence replica already indexes), on this shard.
void SessionHost::OnProfile(int64_t user, const std::string& json) {
  auto send = [&](std::span<Session* const> sessions) {
    for (Session* session : sessions) {
      if (session->phase == Session::Phase::kReady) session->Send(json);
    }
  };
  send(SessionsOf(user));
  // A session is never its own user's watcher (Watch skips the session's user).
  send(presence_.WatchersOf(user));
}

}  // namespace ringcast::chat
