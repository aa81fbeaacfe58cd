#include "chat/owners/presence.h"

#include <algorithm>

namespace ringcast::chat {

PresenceOwner::PresenceOwner(const Clock& clock, uint32_t max_conns_per_user, uint32_t grace_s)
    : clock_(clock), max_conns_per_user_(max_conns_per_user), grace_ms_(int64_t{grace_s} * 1000) {}

bool PresenceOwner::Attach(int64_t user, ConnId conn, std::optional<Change>* came_online) {
  came_online->reset();
  auto [it, inserted] = users_.try_emplace(user);
  OwnedUser& owned = it->second;
  if (owned.connections.size() >= max_conns_per_user_) {
    if (inserted) users_.erase(it);
    return false;
  }
  owned.connections.push_back(conn);
  if (owned.connections.size() > 1) return true;
  if (owned.offline_at_ms) {
    owned.offline_at_ms.reset();  // Back within the grace period.
  } else if (!owned.online) {
    owned.online = true;
    owned.last_online = clock_.WallMs();
    *came_online = Change{user, true, owned.last_online};
  }
  return true;
}

bool PresenceOwner::Detach(int64_t user, ConnId conn) {
  auto it = users_.find(user);
  if (it == users_.end()) return false;
  OwnedUser& owned = it->second;
  auto found = std::find(owned.connections.begin(), owned.connections.end(), conn);
  if (found == owned.connections.end()) return false;  // Refused at Attach: never counted.
  *found = owned.connections.back();
  owned.connections.pop_back();
  if (!owned.connections.empty()) return true;
  if (!owned.online) {
    users_.erase(it);
    return true;
  }
  owned.last_online = clock_.WallMs();
  owned.offline_at_ms = clock_.MonotonicMs() + grace_ms_;
  if (!owned.grace_listed) {
    owned.grace_listed = true;
    grace_pending_.push_back(user);
  }
  return true;
}

std::vector<PresenceOwner::Change> PresenceOwner::Sweep() {
  std::vector<Change> went_offline;
  if (grace_pending_.empty()) return went_offline;
  const int64_t now = clock_.MonotonicMs();
  std::vector<int64_t> still_pending;
  for (int64_t user : grace_pending_) {
    OwnedUser& owned = users_.at(user);  // Listed users are only erased here.
    if (!owned.offline_at_ms) {
      owned.grace_listed = false;  // Came back within its grace period.
      continue;
    }
    if (now < *owned.offline_at_ms) {
      still_pending.push_back(user);
      continue;
    }
    went_offline.push_back(Change{user, false, owned.last_online});
    users_.erase(user);
  }
  grace_pending_ = std::move(still_pending);
  return went_offline;
}

uint32_t PresenceOwner::connections(int64_t user) const {
  auto it = users_.find(user);
  return it == users_.end() ? 0 : uint32_t(it->second.connections.size());
}

std::vector<std::pair<int64_t, uint32_t>> PresenceOwner::Connected() const {
  std::vector<std::pair<int64_t, uint32_t>> out;
  for (const auto& [user, owned] : users_) {
    if (!owned.connections.empty()) out.emplace_back(user, uint32_t(owned.connections.size()));
  }
  return out;
}

bool PresenceOwner::online(int64_t user) const {
  auto it = users_.find(user);
  return it != users_.end() && it->second.online;
}

}  // namespace ringcast::chat
