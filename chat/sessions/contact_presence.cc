// The presence replica and the watchers of each contact (chat/sessions/contact_presence.h).
#include "chat/sessions/contact_presence.h"

#include <algorithm>

#include "chat/frame_ref.h"
#include "chat/protocol.h"
#include "chat/sessions/erase_one.h"
#include "chat/sessions/session_host.h"
#include "core/net/shared_frame.h"

namespace ringcast::chat {

ContactPresence::Status ContactPresence::Of(int64_t user) const {
  auto known = presence_.find(user);
  return known == presence_.end() ? Status{} : known->second;
}

std::vector<Hello::Contact> ContactPresence::ContactsOf(const Session& session) const {
  std::vector<Hello::Contact> contacts;
  for (const auto& [user, shared] : session.contacts) {
    const Status status = Of(user);
    contacts.push_back({.user = user, .online = status.online, .last_online = status.last_online});
  }
  std::sort(contacts.begin(), contacts.end(),
            [](const Hello::Contact& a, const Hello::Contact& b) { return a.user < b.user; });
  return contacts;
}

void ContactPresence::Remember(int64_t user, std::optional<int64_t> last_online) {
  presence_.try_emplace(user, Status{false, last_online});
}

std::vector<int64_t> ContactPresence::OnlineAmong(const std::vector<int64_t>& users) const {
  std::vector<int64_t> online;
  for (int64_t user : users) {
    auto known = presence_.find(user);
    if (known != presence_.end() && known->second.online) online.push_back(user);
  }
  return online;
}

std::span<Session* const> ContactPresence::WatchersOf(int64_t user) const {
  auto it = watchers_.find(user);
  return it == watchers_.end() ? std::span<Session* const>()
                               : std::span<Session* const>(it->second);
}

bool ContactPresence::Watch(Session& session, int64_t user) {
  if (++session.contacts[user] > 1) return false;
  watchers_[user].push_back(&session);
  return true;
}

void ContactPresence::Introduce(Session& session, int64_t user) {
  // Still a contact (not removed again meanwhile), and ready (else hello lists it).
  if (session.phase != Session::Phase::kReady || !session.contacts.contains(user)) return;
  // Not in the replica: offline, and its last_online is only in the store (it would cost a
  // read per new contact; the next hello has it).
  auto known = presence_.find(user);
  const Status status = known == presence_.end() ? Status{} : known->second;
  session.Send(EncodePresence(user, status.online, status.last_online));
}

void ContactPresence::Unwatch(Session& session, int64_t user) {
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

void ContactPresence::OnPresence(const PresenceOwner::Change& change, SharedFrame* frame) {
  if (change.seq != 0) {
    auto known = presence_.find(change.user);
    if (known != presence_.end() &&
        (known->second.seq > change.seq || known->second.online == change.online)) {
      // Overtaken by a later transition made on another node, or no change to tell (the
      // same transition announced again after a re-assertion, or a snapshot had it).
      if (known->second.seq < change.seq) known->second.seq = change.seq;
      frame->Release();
      return;
    }
  }
  Set(change.user, Status{change.online, change.last_online, change.seq}, frame);
}

void ContactPresence::OnPresenceSnapshot(uint64_t seq, const std::vector<int64_t>& online_sorted,
                                         bool with_departures) {
  auto tell = [&](int64_t user, const Status& presence) {
    Set(user, presence, EncodeText(EncodePresence(user, presence.online, presence.last_online)));
  };
  for (int64_t user : online_sorted) {
    auto known = presence_.find(user);
    if (known == presence_.end() || (!known->second.online && known->second.seq < seq)) {
      tell(user,
           Status{true, known == presence_.end() ? std::nullopt : known->second.last_online, seq});
    }
  }
  if (!with_departures) return;
  std::vector<std::pair<int64_t, Status>> gone;
  for (const auto& [user, presence] : presence_) {
    if (presence.online && presence.seq < seq &&
        !std::binary_search(online_sorted.begin(), online_sorted.end(), user)) {
      gone.emplace_back(user, Status{false, presence.last_online, seq});
    }
  }
  for (const auto& [user, presence] : gone) tell(user, presence);
}

void ContactPresence::Set(int64_t user, const Status& presence, SharedFrame* frame) {
  auto it = watchers_.find(user);
  // An offline user that no session here watches needs no replica (see presence_).
  if (presence.online || it != watchers_.end()) {
    presence_[user] = presence;
  } else {
    presence_.erase(user);
  }
  if (it != watchers_.end()) {
    for (Session* session : it->second) {
      if (session->phase != Session::Phase::kReady) continue;
      frame->AddRefs(1);
      session->SendShared(frame, Delivery::kReliable);
    }
  }
  frame->Release();
}

}  // namespace ringcast::chat
