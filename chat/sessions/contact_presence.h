// ContactPresence: one shard's replica of presence (proto/PROTOCOL.md, "Presence"), and the
// sessions watching each contact (the users who share a conversation with them), who hear of
// each change.
//
// Owner: its SessionHost's shard. The users' owners (and, in cluster mode, every node) tell
// every shard each transition by mail; the replica holds every online user and the offline
// ones some local session watches (others are offline, with the last_online the store has).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "chat/owners/presence.h"
#include "chat/protocol.h"

namespace ringcast {
class SharedFrame;
}

namespace ringcast::chat {

struct Session;

class ContactPresence {
 public:
  struct Status {
    bool online = false;
    std::optional<int64_t> last_online;
    uint64_t seq = 0;  // Cluster mode: the transition this is (PresenceOwner::Change::seq).
  };

  // What the replica knows of `user` (offline with no last_online when nothing).
  Status Of(int64_t user) const;
  // What it knows of each of `session`'s contacts, by user id: hello's `presence`.
  std::vector<Hello::Contact> ContactsOf(const Session& session) const;
  // A contact's last_online as a session's start read it from the store: kept only when this
  // shard has heard nothing newer from the contact's owner.
  void Remember(int64_t user, std::optional<int64_t> last_online);
  // Which of `users` are online (anywhere, in cluster mode), for the Notifier.
  std::vector<int64_t> OnlineAmong(const std::vector<int64_t>& users) const;
  // The sessions that have `user` as a contact (never `user`'s own).
  std::span<Session* const> WatchersOf(int64_t user) const;

  // `session` shares one more conversation with `user`: whether `user` is a new contact.
  bool Watch(Session& session, int64_t user);
  // One conversation fewer shared; the last one ends the watch.
  void Unwatch(Session& session, int64_t user);
  // A ready session learns a new contact's current presence at once (hello listed only the
  // contacts it had then).
  void Introduce(Session& session, int64_t user);

  // A user's new presence (one reference to `frame`, released here). In cluster mode a
  // transition older (by seq) than the one the replica holds is ignored.
  void OnPresence(const PresenceOwner::Change& change, SharedFrame* frame);
  // Cluster mode: who is online on any node, as of transition `seq`: the replica and the
  // watchers catch up, on users absent from `online_sorted` only `with_departures`
  // (ClusterPresence::Resync says why).
  void OnPresenceSnapshot(uint64_t seq, const std::vector<int64_t>& online_sorted,
                          bool with_departures);

 private:
  // Sets the replica's presence of `user` and tells the sessions watching it.
  void Set(int64_t user, const Status& status, SharedFrame* frame);

  std::unordered_map<int64_t, std::vector<Session*>> watchers_;  // Contact → sessions.
  std::unordered_map<int64_t, Status> presence_;
};

}  // namespace ringcast::chat
