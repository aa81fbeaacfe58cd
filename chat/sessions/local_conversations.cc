// The conversations one shard's sessions are in (chat/sessions/local_conversations.h).
#include "chat/sessions/local_conversations.h"

#include <algorithm>
#include <span>

#include "chat/chat_metrics.h"
#include "chat/protocol.h"
#include "chat/sessions/contact_presence.h"
#include "chat/sessions/conversation_link.h"
#include "chat/sessions/erase_one.h"
#include "chat/sessions/session_host.h"
#include "core/net/shared_frame.h"

namespace ringcast::chat {

LocalConversations::LocalConversations(SessionHost& host, ConversationLink& link,
                                       ContactPresence& presence, ChatMetrics& metrics)
    : host_(host), link_(link), presence_(presence), metrics_(metrics) {}

bool LocalConversations::AllJoined(const Session& session) const {
  for (const auto& [conv, view] : session.convs) {
    auto local = convs_.find(conv);
    if (local == convs_.end() || !local->second.joined) return false;
  }
  return true;
}

// From now on the session gets every message published to this shard after the last one seen.
void LocalConversations::GoLive(Session& session, int64_t conv, ConvView& view) {
  if (session.phase != Session::Phase::kReady || view.live()) return;
  auto local = convs_.find(conv);
  if (local == convs_.end() || !local->second.joined) return;
  view.GoLive(local->second.last_seen);
}

void LocalConversations::AddView(Session& session, int64_t conv, int64_t start_seq,
                                 const std::vector<int64_t>& members,
                                 std::vector<Introduction>* introductions) {
  auto [it, inserted] = session.convs.try_emplace(conv, start_seq);
  if (!inserted) return;
  LocalConv& local = convs_[conv];
  if (local.sessions.empty() && local.members.empty()) local.members = members;
  local.sessions.push_back(&session);
  for (int64_t member : local.members) {
    if (member != session.user && presence_.Watch(session, member) && introductions != nullptr) {
      introductions->emplace_back(&session, member);
    }
  }
  if (local.sessions.size() == 1 && !local.joined && local.join_token == 0) {
    local.join_token = ++next_join_token_;
    link_.Join(conv, local.join_token, it->second.start_seq());
  }
  GoLive(session, conv, it->second);
}

void LocalConversations::DropView(Session& session, int64_t conv) {
  if (session.convs.erase(conv) == 0) return;
  auto it = convs_.find(conv);
  if (it == convs_.end()) return;
  LocalConv& local = it->second;
  EraseOne(local.sessions, &session);
  for (int64_t member : local.members) {
    if (member != session.user) presence_.Unwatch(session, member);
  }
  if (!local.sessions.empty()) return;
  link_.Leave(conv);
  convs_.erase(it);
}

void LocalConversations::OnRewind(int64_t conv, int64_t last) {
  auto it = convs_.find(conv);
  if (it == convs_.end()) return;
  it->second.last_seen = std::min(it->second.last_seen, last);
  for (Session* session : it->second.sessions) {
    if (auto view = session->convs.find(conv); view != session->convs.end()) {
      view->second.Rewind(last);
    }
  }
}

void LocalConversations::OnJoined(int64_t conv, uint64_t token, int64_t last_published) {
  auto it = convs_.find(conv);
  if (it == convs_.end() || it->second.join_token != token) return;  // Left meanwhile.
  LocalConv& local = it->second;
  local.joined = true;
  local.last_seen = last_published;
  std::vector<Session*> sessions = local.sessions;
  for (Session* session : sessions) {
    GoLive(*session, conv, session->convs[conv]);
    host_.MaybeReady(*session);
  }
}

void LocalConversations::DeliverLocal(int64_t conv, int64_t seq, SharedFrame* frame,
                                      int64_t except_user, bool droppable, int64_t published_us) {
  auto it = convs_.find(conv);
  if (it != convs_.end()) {
    if (seq > 0) {
      metrics_.delivery_latency.Observe(double(host_.clock().MonotonicUs() - published_us) / 1e6);
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

void LocalConversations::OnMembersChanged(const storage::ConversationState& state,
                                          const std::vector<int64_t>& removed) {
  const int64_t conv = state.id;
  std::vector<int64_t> members;
  for (const storage::MemberState& member : state.members) members.push_back(member.user);
  std::string event = EncodeMembers(state);
  std::vector<Session*> notify;
  std::vector<Introduction> introductions;  // Told after the event that explains them.

  // Sessions already in the conversation watch the newcomers and stop watching who left.
  if (auto it = convs_.find(conv); it != convs_.end()) {
    LocalConv& local = it->second;
    for (Session* session : local.sessions) {
      for (int64_t user : members) {
        if (user != session->user &&
            !std::binary_search(local.members.begin(), local.members.end(), user) &&
            presence_.Watch(*session, user)) {
          introductions.emplace_back(session, user);
        }
      }
      for (int64_t user : local.members) {
        if (user != session->user && !std::binary_search(members.begin(), members.end(), user)) {
          presence_.Unwatch(*session, user);
        }
      }
    }
    local.members = members;
  }
  // Removed members' sessions leave it (and are told); its call rings for them no more.
  for (int64_t user : removed) {
    host_.rings().ForgetConversation(user, conv);
    const std::span<Session* const> sessions = host_.SessionsOf(user);
    for (Session* session : std::vector<Session*>(sessions.begin(), sessions.end())) {
      DropView(*session, conv);
      notify.push_back(session);
    }
  }
  // Members' sessions join it (a no-op for those already in).
  for (int64_t user : members) {
    for (Session* session : host_.SessionsOf(user)) {
      if (session->phase == Session::Phase::kGone) continue;
      AddView(*session, conv, state.last_seq, members, &introductions);
      notify.push_back(session);
    }
  }
  for (Session* session : notify) {
    if (session->phase == Session::Phase::kReady) session->Send(event);
  }
  for (const auto& [session, user] : introductions) presence_.Introduce(*session, user);
}

}  // namespace ringcast::chat
