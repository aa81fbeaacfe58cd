// Chat sessions: one per /ws connection, on the shard that accepted it.
#include <algorithm>

#include "chat/chat_shard.h"
#include "core/log.h"
#include "core/routes/default_app.h"
#include "core/runtime/shard.h"

namespace ringcast::chat {
namespace {

// Login attempts are counted per minute; each shard holds at most this many keys at once.
constexpr int64_t kLoginWindowMs = 60 * 1000;
constexpr size_t kMaxLoginKeys = 65536;
// How often expired revocations are forgotten.
constexpr int64_t kRevocationSweepMs = 60 * 1000;

template <typename T>
void EraseOne(std::vector<T>& items, const T& item) {
  auto it = std::find(items.begin(), items.end(), item);
  if (it == items.end()) return;
  *it = items.back();
  items.pop_back();
}

}  // namespace

ChatShard::ChatShard(Shard& shard, ChatService& service)
    : shard_(shard),
      service_(service),
      config_(service.config()),
      parser_(RequestLimits{.max_body = config_.max_chat_body}),
      presence_owner_(service.clock(), config_.max_conns_per_user, config_.presence_grace_s),
      login_limiter_(kLoginWindowMs, kMaxLoginKeys, service.clock().MonotonicMs()),
      fallback_(MakeDefaultApp(shard)),
      clock_(service.clock()),
      next_sweep_ms_(clock_.MonotonicMs()),
      next_revocation_sweep_ms_(clock_.MonotonicMs() + kRevocationSweepMs) {
  for (const storage::RevokedToken& token : service.initially_revoked()) {
    revoked_.emplace(token.jti, token.expires_at_ms);
  }
}

ChatShard::~ChatShard() = default;

Session* ChatShard::FindSession(ConnId id) {
  Connection* conn = shard_.Find(id);
  return conn == nullptr ? nullptr : reinterpret_cast<Session*>(conn->user_data);
}

void ChatShard::OpenSession(Connection& conn, Authenticated auth) {
  auto owned = std::make_unique<Session>();
  Session& session = *owned;
  session.conn = &conn;
  session.id = conn.id();
  session.user = auth.user;
  session.jti = std::move(auth.jti);
  session.last_heartbeat_ms = clock_.MonotonicMs();
  session.bucket = TokenBucket(config_.msg_rate, 2.0 * config_.msg_rate, clock_.MonotonicMs());
  session.index = sessions_.size();
  sessions_.push_back(std::move(owned));
  conn.user_data = reinterpret_cast<uint64_t>(&session);
  by_user_[session.user].push_back(&session);

  ConnId id = session.id;
  int64_t user = session.user;
  service_.Post(service_.UserOwner(user),
                [user, id](ChatShard& owner) { owner.OwnerAttach(user, id); });
  service_.store().StartSession(
      user, service_.ReplyOn<storage::SessionStart>(
                shard_.id(), [id](ChatShard& self, storage::Result<storage::SessionStart> r) {
                  self.OnSessionStart(id, std::move(r));
                }));
}

void ChatShard::OnSessionStart(ConnId id, storage::Result<storage::SessionStart> result) {
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

void ChatShard::OnAttached(ConnId id, bool accepted) {
  Session* session = FindSession(id);
  if (session == nullptr) return;
  if (!accepted) return CloseSession(*session, 1008, "too many connections for this user");
  session->attached = true;
  MaybeReady(*session);
}

// Ready once its conversations are loaded and joined and the user's owner has counted it; then
// hello, then whatever the client sent meanwhile.
void ChatShard::MaybeReady(Session& session) {
  if (session.phase != Session::Phase::kStarting || !session.loaded || !session.attached) return;
  for (auto& [conv, view] : session.convs) {
    if (!local_convs_[conv].joined) return;
  }
  session.phase = Session::Phase::kReady;
  for (auto& [conv, view] : session.convs) GoLive(session, conv, view);

  JsonWriter hello;
  hello.BeginObject().Field("type", "hello").Field("user", session.user).Key("presence");
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
  session.conn->SendText(hello.EndArray().EndObject().str());
  RunPending(session);
}

void ChatShard::RunPending(Session& session) {
  while (!session.pending.empty() && session.phase == Session::Phase::kReady &&
         !session.answer_outstanding) {
    if (session.conn->congested()) return session.conn->NotifyWhenUncongested();
    std::string text = session.pending.Pop();
    HandleRequest(session, text);
  }
}

void ChatShard::OnDrain(Connection& conn) {
  if (auto* session = reinterpret_cast<Session*>(conn.user_data)) RunPending(*session);
}

// From now on the session gets every message published to this shard after the last one seen.
void ChatShard::GoLive(Session& session, int64_t conv, ConvView& view) {
  if (session.phase != Session::Phase::kReady || view.live()) return;
  LocalConv& local = local_convs_[conv];
  if (!local.joined) return;
  view.GoLive(local.last_seen);
}

void ChatShard::AddView(Session& session, int64_t conv, int64_t start_seq,
                        const std::vector<int64_t>& members) {
  auto [it, inserted] = session.convs.try_emplace(conv, start_seq);
  if (!inserted) return;
  LocalConv& local = local_convs_[conv];
  if (local.sessions.empty() && local.members.empty()) local.members = members;
  local.sessions.push_back(&session);
  for (int64_t member : local.members) {
    if (member != session.user) Watch(session, member);
  }
  if (local.sessions.size() == 1 && !local.joined && local.join_token == 0) {
    local.join_token = ++next_join_token_;
    uint32_t self = shard_.id();
    service_.Post(service_.ConversationOwner(conv),
                  [conv, self, token = local.join_token](ChatShard& owner) {
                    owner.OwnerJoin(conv, self, token);
                  });
  }
  GoLive(session, conv, it->second);
}

void ChatShard::DropView(Session& session, int64_t conv) {
  if (session.convs.erase(conv) == 0) return;
  auto it = local_convs_.find(conv);
  if (it == local_convs_.end()) return;
  LocalConv& local = it->second;
  EraseOne(local.sessions, &session);
  for (int64_t member : local.members) {
    if (member != session.user) Unwatch(session, member);
  }
  if (!local.sessions.empty()) return;
  uint32_t self = shard_.id();
  service_.Post(service_.ConversationOwner(conv),
                [conv, self](ChatShard& owner) { owner.OwnerLeave(conv, self); });
  local_convs_.erase(it);
}

void ChatShard::Watch(Session& session, int64_t user) {
  if (++session.contacts[user] == 1) watchers_[user].push_back(&session);
}

void ChatShard::Unwatch(Session& session, int64_t user) {
  auto it = session.contacts.find(user);
  if (it == session.contacts.end() || --it->second > 0) return;
  session.contacts.erase(it);
  auto watchers = watchers_.find(user);
  if (watchers == watchers_.end()) return;
  EraseOne(watchers->second, &session);
  if (!watchers->second.empty()) return;
  watchers_.erase(watchers);
  // Nobody here watches this user any more: an offline one needs no replica (the store has its
  // last_online for the next session that lists it).
  if (auto it = presence_.find(user); it != presence_.end() && !it->second.online) {
    presence_.erase(it);
  }
}

void ChatShard::CloseSession(Session& session, uint16_t code, std::string_view reason) {
  if (session.phase == Session::Phase::kGone) return;
  session.phase = Session::Phase::kGone;
  session.conn->Close(code, reason);  // OnClose follows and cleans up.
}

void ChatShard::OnClose(Connection& conn) {
  auto* session = reinterpret_cast<Session*>(conn.user_data);
  if (session == nullptr) return;
  conn.user_data = 0;
  session->phase = Session::Phase::kGone;
  std::vector<int64_t> convs;
  for (const auto& [conv, view] : session->convs) convs.push_back(conv);
  for (int64_t conv : convs) DropView(*session, conv);
  auto user = by_user_.find(session->user);
  EraseOne(user->second, session);
  if (user->second.empty()) by_user_.erase(user);
  service_.Post(
      service_.UserOwner(session->user),
      [user = session->user, id = session->id](ChatShard& owner) { owner.OwnerDetach(user, id); });
  size_t index = session->index;
  sessions_[index] = std::move(sessions_.back());
  sessions_[index]->index = index;
  sessions_.pop_back();  // Destroys the session (or the moved-from slot when it was last).
}

void ChatShard::OnHeartbeat(Connection& conn) {
  if (auto* session = reinterpret_cast<Session*>(conn.user_data)) {
    session->last_heartbeat_ms = clock_.MonotonicMs();
  }
}

void ChatShard::OnTick() {
  // Once a second: heartbeats, presence grace periods, the login window, idle records. Every
  // duration is on the monotonic clock: a wall-clock step must not close every session.
  const int64_t now = clock_.MonotonicMs();
  if (now < next_sweep_ms_) return;
  next_sweep_ms_ = now + 1000;
  const int64_t timeout_ms = int64_t{config_.presence_timeout_s} * 1000;
  std::vector<Session*> silent;
  for (auto& session : sessions_) {
    if (now - session->last_heartbeat_ms > timeout_ms) silent.push_back(session.get());
  }
  for (Session* session : silent) CloseSession(*session, 1008, "presence timeout");
  OwnerSweepPresence();
  login_limiter_.Expire(now);
  ForgetIdleConvs(now);
  if (now >= next_revocation_sweep_ms_) {
    next_revocation_sweep_ms_ = now + kRevocationSweepMs;
    ForgetExpiredRevocations();
  }
}

// --- Requests --------------------------------------------------------------------------------

void ChatShard::OnMessage(Connection& conn, ws::Opcode opcode, std::span<const uint8_t> payload) {
  auto* session = reinterpret_cast<Session*>(conn.user_data);
  if (session == nullptr || session->phase == Session::Phase::kGone) return;
  session->last_heartbeat_ms = clock_.MonotonicMs();
  if (opcode != ws::Opcode::kText) {
    if (!AdmitRequest(*session, {})) return;
    return SendError(*session, "bad_request", "binary frames are not part of the chat protocol");
  }
  std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  if (session->phase == Session::Phase::kReady && session->pending.empty() &&
      !session->answer_outstanding && !conn.congested()) {
    return HandleRequest(*session, text);
  }
  // Its turn comes after hello, after the answer on its way, or once the client has read enough.
  if (!session->pending.Push(text)) {
    return CloseSession(*session, 1008,
                        session->phase == Session::Phase::kStarting
                            ? "too many requests before hello"
                            : "too many requests waiting for answers");
  }
  RunPending(*session);  // Arms the drain notice when congestion is what holds it.
}

// Token bucket: msg_rate per second, bursts of twice that. A client that keeps going after
// being refused a burst's worth in a row is closed.
bool ChatShard::AdmitRequest(Session& session, std::string_view cid) {
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

void ChatShard::SendError(Session& session, std::string_view code, std::string_view message,
                          std::string_view cid) {
  session.conn->SendText(EncodeError(code, message, cid));
}

void ChatShard::HandleRequest(Session& session, std::string_view text) {
  ClientRequest request;
  RequestError error;
  bool parsed = parser_.Parse(text, &request, &error);
  if (!AdmitRequest(session, error.cid)) return;
  if (!parsed) {
    session.conn->SendText(EncodeRequestError(error));
    return;
  }
  switch (request.type) {
    case RequestType::kSend:
      return HandleSend(session, request);
    case RequestType::kDelivered:
    case RequestType::kRead:
      return HandleWatermark(session, request);
    case RequestType::kSync:
      return HandleSync(session, request);
    case RequestType::kHistory:
      return HandleHistory(session, request);
    case RequestType::kTyping:
      return HandleTyping(session, request);
    case RequestType::kPing:
      session.conn->SendText(R"({"type":"pong"})");
      return;
  }
}

void ChatShard::HandleSend(Session& session, ClientRequest& request) {
  if (!session.convs.contains(request.conv)) {
    return SendError(session, "forbidden", "not a member of this conversation", request.cid);
  }
  storage::NewMessage message{.conv = request.conv,
                              .sender = session.user,
                              .cid = request.cid,
                              .kind = std::move(request.kind),
                              .body = std::move(request.body),
                              .ts = NowMs()};
  // The commit's reply goes straight to the conversation's owner, which publishes in commit
  // order (= seq order) and then acks the sender.
  service_.store().Append(
      std::move(message),
      service_.ReplyOn<storage::AppendOutcome>(
          service_.ConversationOwner(request.conv),
          [origin = session.id, cid = std::move(request.cid)](
              ChatShard& owner, storage::Result<storage::AppendOutcome> result) mutable {
            owner.OwnerCommitted(origin, std::move(cid), std::move(result));
          }));
}

void ChatShard::HandleWatermark(Session& session, const ClientRequest& request) {
  if (!session.convs.contains(request.conv)) {
    return SendError(session, "forbidden", "not a member of this conversation");
  }
  service_.Post(service_.ConversationOwner(request.conv),
                [origin = session.id, conv = request.conv, user = session.user,
                 read = request.type == RequestType::kRead, seq = request.seq](ChatShard& owner) {
                  owner.OwnerWatermark(origin, conv, user, read, seq);
                });
}

void ChatShard::HandleSync(Session& session, ClientRequest& request) {
  if (!request.sync_all && request.asks.empty()) {
    session.conn->SendText(R"({"type":"sync","convs":[]})");
    return;
  }
  session.answer_outstanding = true;
  service_.store().Sync(session.user, std::move(request.asks),
                        {.count = config_.sync_limit, .bytes = config_.max_answer_bytes},
                        service_.ReplyOn<std::vector<storage::SyncConversation>>(
                            shard_.id(), [id = session.id](ChatShard& self, auto result) {
                              Session* session = self.FindSession(id);
                              if (session == nullptr) return;
                              if (!result.ok()) {
                                return self.FinishAnswer(
                                    id,
                                    EncodeError("unavailable", "storage unavailable, retry", {}));
                              }
                              self.AnswerSync(*session, *result);
                            }));
}

// Every conversation asked for is listed; its messages are what the client asked for minus what
// this connection received live (ConvView), and stop once the answer holds --max-answer-bytes.
void ChatShard::AnswerSync(Session& session, const std::vector<storage::SyncConversation>& convs) {
  JsonWriter writer;
  writer.BeginObject().Field("type", "sync").Key("convs").BeginArray();
  bool full = false;
  size_t taken = 0;  // An answer always has a message, so paging always moves on.
  for (const storage::SyncConversation& conv : convs) {
    writer.BeginObject()
        .Field("conv", conv.conv)
        .Field("last_seq", conv.last_seq)
        .Field("unread", conv.last_seq - conv.read_seq)
        .Field("read_seq", conv.read_seq)
        .Key("members")
        .BeginArray();
    for (const storage::MemberState& member : conv.members) {
      writer.BeginObject()
          .Field("user", member.user)
          .Field("delivered", member.delivered)
          .Field("read", member.read)
          .EndObject();
    }
    writer.EndArray().Key("messages").BeginArray();
    auto view = session.convs.find(conv.conv);
    ConvView* seen = view == session.convs.end() ? nullptr : &view->second;
    bool more = conv.more;
    int64_t last = -1;
    for (const storage::Message& message : conv.messages) {
      if (seen != nullptr && !seen->WantsInAnswer(message.seq)) continue;
      if (full || (taken > 0 && writer.str().size() >= config_.max_answer_bytes)) {
        full = more = true;
        break;
      }
      AppendMessage(writer, message);
      ++taken;
      last = message.seq;
    }
    if (seen != nullptr && last >= 0) seen->RecordAnswered(last);
    writer.EndArray().Field("more", more).EndObject();
  }
  FinishAnswer(session.id, writer.EndArray().EndObject().str());
}

void ChatShard::HandleHistory(Session& session, const ClientRequest& request) {
  if (!session.convs.contains(request.conv)) {
    return SendError(session, "forbidden", "not a member of this conversation");
  }
  session.answer_outstanding = true;
  service_.Post(service_.ConversationOwner(request.conv),
                [origin = session.id, conv = request.conv, user = session.user,
                 before = request.before, limit = request.limit](ChatShard& owner) {
                  owner.OwnerHistory(origin, conv, user, before, limit);
                });
}

void ChatShard::FinishAnswer(ConnId id, std::string_view json) {
  Session* session = FindSession(id);
  if (session == nullptr) return;
  session->answer_outstanding = false;
  if (session->phase != Session::Phase::kReady) return;
  session->conn->SendText(json);
  RunPending(*session);
}

void ChatShard::HandleTyping(Session& session, const ClientRequest& request) {
  if (!session.convs.contains(request.conv)) {
    return SendError(session, "forbidden", "not a member of this conversation");
  }
  service_.Post(
      service_.ConversationOwner(request.conv),
      [conv = request.conv, user = session.user, start = request.typing](ChatShard& owner) {
        owner.OwnerPublish(conv, 0, EncodeTyping(conv, user, start), user, true);
      });
}

}  // namespace ringcast::chat
