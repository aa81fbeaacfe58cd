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
      revoked_(clock_),
      reconnect_jitter_(std::random_device{}()),
      device_ids_(std::random_device{}()) {
  for (const storage::RevokedToken& token : service.initially_revoked()) {
    revoked_.Add(token.jti, token.expires_at_ms);
  }
}

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
  SetToken(session, std::move(jti), exp_s);
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
    presence_.try_emplace(contact.user, Presence{false, contact.last_online});
  }
  for (const storage::SessionStart::Conversation& conv : result->conversations) {
    AddView(*session, conv.id, conv.last_seq, conv.members);
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
  if (session.phase != Session::Phase::kStarting || !session.loaded || !session.attached) return;
  for (auto& [conv, view] : session.convs) {
    if (!local_convs_[conv].joined) return;
  }
  session.phase = Session::Phase::kReady;
  for (auto& [conv, view] : session.convs) GoLive(session, conv, view);

  JsonWriter hello;
  hello.BeginObject()
      .Field("type", "hello")
      .Field("user", session.user)
      .Field("instance", service_.instance_id())
      .Field("expires_at", session.token_exp_ms)
      .Field("device", int64_t(session.device))
      .Key("ringing")
      .BeginArray();
  if (auto rings = ringing_.find(session.user); rings != ringing_.end()) {
    // Only a conversation the session is in, as the store said at its start: a ring whose end
    // has not come here yet is not shown to a member removed meanwhile.
    for (const Ringing& ring : rings->second) {
      if (session.convs.contains(ring.conv)) hello.Raw(ring.json);
    }
  }
  hello.EndArray().Key("presence");
  hello.BeginArray();
  std::vector<int64_t> contacts;
  for (const auto& [user, shared] : session.contacts) contacts.push_back(user);
  std::sort(contacts.begin(), contacts.end());
  for (int64_t user : contacts) {
    auto known = presence_.find(user);
    Presence status = known == presence_.end() ? Presence{} : known->second;
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

// From now on the session gets every message published to this shard after the last one seen.
void SessionHost::GoLive(Session& session, int64_t conv, ConvView& view) {
  if (session.phase != Session::Phase::kReady || view.live()) return;
  LocalConv& local = local_convs_[conv];
  if (!local.joined) return;
  view.GoLive(local.last_seen);
}

void SessionHost::AddView(Session& session, int64_t conv, int64_t start_seq,
                          const std::vector<int64_t>& members,
                          std::vector<Introduction>* introductions) {
  auto [it, inserted] = session.convs.try_emplace(conv, start_seq);
  if (!inserted) return;
  LocalConv& local = local_convs_[conv];
  if (local.sessions.empty() && local.members.empty()) local.members = members;
  local.sessions.push_back(&session);
  for (int64_t member : local.members) {
    if (member != session.user && Watch(session, member) && introductions != nullptr) {
      introductions->emplace_back(&session, member);
    }
  }
  if (local.sessions.size() == 1 && !local.joined && local.join_token == 0) {
    local.join_token = ++next_join_token_;
    conversations_.Join(conv, local.join_token, it->second.start_seq());
  }
  GoLive(session, conv, it->second);
}

void SessionHost::DropView(Session& session, int64_t conv) {
  if (session.convs.erase(conv) == 0) return;
  auto it = local_convs_.find(conv);
  if (it == local_convs_.end()) return;
  LocalConv& local = it->second;
  EraseOne(local.sessions, &session);
  for (int64_t member : local.members) {
    if (member != session.user) Unwatch(session, member);
  }
  if (!local.sessions.empty()) return;
  conversations_.Leave(conv);
  local_convs_.erase(it);
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
  DropCalls(*session);
  std::vector<int64_t> convs;
  for (const auto& [conv, view] : session->convs) convs.push_back(conv);
  for (int64_t conv : convs) DropView(*session, conv);
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
  SweepTokens(now_ms);
  SweepRinging(now_ms);
  revoked_.Sweep();
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

// --- Mail from the owners --------------------------------------------------------------------

void SessionHost::SendText(ConnId id, std::string_view json) {
  if (Session* session = FindSession(id)) session->Send(json);
}

void SessionHost::OnRewind(int64_t conv, int64_t last) {
  auto it = local_convs_.find(conv);
  if (it == local_convs_.end()) return;
  it->second.last_seen = std::min(it->second.last_seen, last);
  for (Session* session : it->second.sessions) {
    if (auto view = session->convs.find(conv); view != session->convs.end()) {
      view->second.Rewind(last);
    }
  }
}

void SessionHost::OnJoined(int64_t conv, uint64_t token, int64_t last_published) {
  auto it = local_convs_.find(conv);
  if (it == local_convs_.end() || it->second.join_token != token) return;  // Left meanwhile.
  LocalConv& local = it->second;
  local.joined = true;
  local.last_seen = last_published;
  std::vector<Session*> sessions = local.sessions;
  for (Session* session : sessions) {
    GoLive(*session, conv, session->convs[conv]);
    MaybeReady(*session);
  }
}

void SessionHost::DeliverLocal(int64_t conv, int64_t seq, SharedFrame* frame, int64_t except_user,
                               bool droppable, int64_t published_us) {
  auto it = local_convs_.find(conv);
  if (it != local_convs_.end()) {
    if (seq > 0) {
      metrics_.delivery_latency.Observe(double(clock_.MonotonicUs() - published_us) / 1e6);
    }
    LocalConv& local = it->second;
    if (seq > 0) local.last_seen = std::max(local.last_seen, seq);
    for (Session* session : local.sessions) {
      if (session->phase != Session::Phase::kReady || session->user == except_user) continue;
      ConvView& view = session->convs[conv];
      if (!view.live()) continue;
      if (seq > 0 && !view.TakeLive(seq)) continue;  // Already sent by a sync.
      frame->AddRefs(1);
      session->SendShared(frame, droppable ? Delivery::kDroppable : Delivery::kReliable);
    }
  }
  frame->Release();
}

void SessionHost::OnMembersChanged(const storage::ConversationState& state,
                                   const std::vector<int64_t>& removed) {
  const int64_t conv = state.id;
  std::vector<int64_t> members;
  for (const storage::MemberState& member : state.members) members.push_back(member.user);
  std::string event = EncodeMembers(state);
  std::vector<Session*> notify;
  std::vector<Introduction> introductions;  // Told after the event that explains them.

  // Sessions already in the conversation watch the newcomers and stop watching who left.
  if (auto it = local_convs_.find(conv); it != local_convs_.end()) {
    LocalConv& local = it->second;
    for (Session* session : local.sessions) {
      for (int64_t user : members) {
        if (user != session->user &&
            !std::binary_search(local.members.begin(), local.members.end(), user) &&
            Watch(*session, user)) {
          introductions.emplace_back(session, user);
        }
      }
      for (int64_t user : local.members) {
        if (user != session->user && !std::binary_search(members.begin(), members.end(), user)) {
          Unwatch(*session, user);
        }
      }
    }
    local.members = members;
  }
  // Removed members' sessions leave it (and are told); its call rings for them no more.
  for (int64_t user : removed) {
    ForgetRings(user, [conv](const Ringing& ring) { return ring.conv == conv; });
    auto sessions = by_user_.find(user);
    if (sessions == by_user_.end()) continue;
    for (Session* session : std::vector<Session*>(sessions->second)) {
      DropView(*session, conv);
      notify.push_back(session);
    }
  }
  // Members' sessions join it (a no-op for those already in).
  for (int64_t user : members) {
    auto sessions = by_user_.find(user);
    if (sessions == by_user_.end()) continue;
    for (Session* session : sessions->second) {
      if (session->phase == Session::Phase::kGone) continue;
      AddView(*session, conv, state.last_seq, members, &introductions);
      notify.push_back(session);
    }
  }
  for (Session* session : notify) {
    if (session->phase == Session::Phase::kReady) session->Send(event);
  }
  for (const auto& [session, user] : introductions) Introduce(*session, user);
}

void SessionHost::OnRevoked(int64_t user, const std::string& jti, int64_t exp_ms) {
  revoked_.Add(jti, exp_ms);
  auto sessions = by_user_.find(user);
  if (sessions == by_user_.end()) return;
  for (Session* session : std::vector<Session*>(sessions->second)) {
    if (RevokedTokens::Covers(jti, session->jti)) CloseSession(*session, 1008, "token revoked");
  }
}

void SessionHost::OnRevokedList(const std::vector<storage::RevokedToken>& revoked) {
  bool any_new = false;
  for (const storage::RevokedToken& token : revoked) {
    any_new |= revoked_.Add(token.jti, token.expires_at_ms);
  }
  if (!any_new) return;
  std::vector<Session*> closing;
  for (const auto& session : sessions_) {
    if (session->phase != Session::Phase::kGone && revoked_.Contains(session->jti)) {
      closing.push_back(session.get());
    }
  }
  for (Session* session : closing) CloseSession(*session, 1008, "token revoked");
}

}  // namespace ringcast::chat
