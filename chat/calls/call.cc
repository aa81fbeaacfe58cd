#include "chat/calls/call.h"

#include <algorithm>
#include <utility>

namespace ringcast::chat {

std::string_view CallKindName(CallKind kind) {
  return kind == CallKind::kVideo ? "video" : "audio";
}

std::string_view CallOutcomeName(CallOutcome outcome) {
  switch (outcome) {
    case CallOutcome::kNone:
      return "";
    case CallOutcome::kCompleted:
      return "completed";
    case CallOutcome::kMissed:
      return "missed";
    case CallOutcome::kDeclined:
      return "declined";
    case CallOutcome::kCancelled:
      return "cancelled";
    case CallOutcome::kFailed:
      return "failed";
  }
  return "";
}

std::string_view CallEndReasonName(CallEndReason reason) {
  switch (reason) {
    case CallEndReason::kNone:
      return "";
    case CallEndReason::kRemoved:
      return "removed";
    case CallEndReason::kBlocked:
      return "blocked";
  }
  return "";
}

Call::Call(uint64_t id, int64_t conv, CallKind kind, bool group, CallDevice caller,
           std::vector<int64_t> invitees, int64_t now_ms, const CallOptions& options,
           std::vector<CallSignal>& out)
    : id_(id),
      conv_(conv),
      kind_(kind),
      group_(group),
      caller_(caller),
      options_(options),
      started_at_(now_ms) {
  members_.push_back(Member{.device = caller});
  for (int64_t user : invitees) {
    if (user == caller.user || !invites_.emplace(user, Invite::kRinging).second) continue;
    out.push_back(CallSignal{.kind = CallSignal::Kind::kRing, .to = user, .about = caller});
  }
}

Call::Member* Call::Find(CallDevice device) {
  for (Member& m : members_) {
    if (m.device == device && !m.left) return &m;
  }
  return nullptr;
}

const Call::Member* Call::Find(CallDevice device) const {
  return const_cast<Call*>(this)->Find(device);
}

bool Call::HasPresentDevice(int64_t user) const {
  return std::any_of(members_.begin(), members_.end(),
                     [user](const Member& m) { return !m.left && m.device.user == user; });
}

size_t Call::Present() const {
  return static_cast<size_t>(
      std::count_if(members_.begin(), members_.end(), [](const Member& m) { return !m.left; }));
}

void Call::Tell(CallSignal::Kind kind, CallDevice about, std::vector<CallSignal>& out,
                std::optional<int64_t> except_user) const {
  for (const Member& m : members_) {
    if (m.left || m.dropped_at || m.device == about || m.device.user == except_user) continue;
    out.push_back(
        CallSignal{.kind = kind, .to = m.device.user, .device = m.device.device, .about = about});
  }
}

void Call::StopRinging(int64_t except_user, std::optional<CallDevice> answered_on,
                       std::vector<CallSignal>& out, CallEndReason reason) {
  for (auto& [user, invite] : invites_) {
    if (user == except_user || invite != Invite::kRinging) continue;
    out.push_back(CallSignal{.kind = CallSignal::Kind::kStopRinging,
                             .to = user,
                             .about = answered_on.value_or(caller_),
                             .reason = reason});
  }
}

bool Call::AnyRinging() const {
  return std::any_of(invites_.begin(), invites_.end(),
                     [](const auto& entry) { return entry.second == Invite::kRinging; });
}

void Call::End(CallOutcome outcome, int64_t now_ms, std::vector<CallSignal>& out,
               CallEndReason reason) {
  outcome_ = outcome;
  end_reason_ = reason;
  ended_at_ = now_ms;
  StopRinging(0, std::nullopt, out, reason);
  for (auto& [user, invite] : invites_) {
    if (invite == Invite::kRinging) invite = Invite::kDeclined;  // Rings no more.
  }
  for (const Member& m : members_) {
    if (m.left || m.dropped_at) continue;
    out.push_back(CallSignal{.kind = CallSignal::Kind::kEnded,
                             .to = m.device.user,
                             .device = m.device.device,
                             .reason = reason});
  }
}

void Call::Leave(Member& member, int64_t now_ms, std::vector<CallSignal>& out) {
  const bool dropped = member.dropped_at.has_value();
  member.left = true;
  member.dropped_at.reset();
  Tell(CallSignal::Kind::kLeft, member.device, out);
  if (Present() < 2) {
    // Alone: the call is over. Never answered: the caller gave up (or its connection did).
    End(answered_at_ ? CallOutcome::kCompleted : CallOutcome::kFailed, now_ms, out);
    // The device that hung up last hears the outcome too.
    if (!dropped) {
      out.push_back(CallSignal{.kind = CallSignal::Kind::kEnded,
                               .to = member.device.user,
                               .device = member.device.device});
    }
  }
}

Call::Refusal Call::MayAccept(CallDevice device) const {
  if (ended()) return Refusal::kEnded;
  auto invite = invites_.find(device.user);
  const bool ringing = invite != invites_.end() && invite->second == Invite::kRinging;
  // A 1:1 is answered once, while it rings. A group call takes any member not in it now (the
  // holder has asked the store): one it rang, one who declined, one it did not ring (past
  // --call-ring-max, or added since), one who left and comes back (the caller too).
  if (!ringing && !(group_ && !HasPresentDevice(device.user))) return Refusal::kNotInvited;
  if (Present() >= options_.max_participants) return Refusal::kFull;
  return Refusal::kNone;
}

Call::Refusal Call::Accept(CallDevice device, int64_t now_ms, std::vector<CallSignal>& out) {
  if (Refusal refusal = MayAccept(device); refusal != Refusal::kNone) return refusal;
  if (auto invite = invites_.find(device.user); invite != invites_.end()) {
    invite->second = Invite::kJoined;
  }
  if (!answered_at_) answered_at_ = now_ms;
  // The user's other devices stop ringing: this one has the call.
  out.push_back(
      CallSignal{.kind = CallSignal::Kind::kStopRinging, .to = device.user, .about = device});
  members_.push_back(Member{.device = device});
  Tell(CallSignal::Kind::kJoined, device, out);
  if (!group_) StopRinging(device.user, device, out);  // A 1:1 rings no one else.
  return Refusal::kNone;
}

Call::Refusal Call::Decline(int64_t user, int64_t now_ms, std::vector<CallSignal>& out) {
  if (ended()) return Refusal::kEnded;
  auto invite = invites_.find(user);
  if (invite == invites_.end() || invite->second != Invite::kRinging) return Refusal::kNotInvited;
  invite->second = Invite::kDeclined;
  out.push_back(
      CallSignal{.kind = CallSignal::Kind::kStopRinging, .to = user, .about = CallDevice{user, 0}});
  Tell(CallSignal::Kind::kDeclined, CallDevice{user, 0}, out);
  const bool still_open = std::any_of(invites_.begin(), invites_.end(), [](const auto& entry) {
    return entry.second != Invite::kDeclined;
  });
  if (!answered_at_ && !still_open) End(CallOutcome::kDeclined, now_ms, out);
  return Refusal::kNone;
}

Call::Refusal Call::Cancel(CallDevice device, int64_t now_ms, std::vector<CallSignal>& out) {
  if (ended()) return Refusal::kEnded;
  if (!(device == caller_)) return Refusal::kNotCaller;
  if (answered_at_) return Refusal::kAnswered;
  End(CallOutcome::kCancelled, now_ms, out);
  return Refusal::kNone;
}

Call::Refusal Call::HangUp(CallDevice device, int64_t now_ms, std::vector<CallSignal>& out) {
  if (ended()) return Refusal::kEnded;
  Member* member = Find(device);
  if (member == nullptr) return Refusal::kNotJoined;
  if (!answered_at_) return device == caller_ ? Cancel(device, now_ms, out) : Refusal::kNotAnswered;
  Leave(*member, now_ms, out);
  return Refusal::kNone;
}

void Call::Dropped(CallDevice device, int64_t now_ms, std::vector<CallSignal>&) {
  if (ended()) return;
  if (Member* member = Find(device); member != nullptr && !member->dropped_at) {
    member->dropped_at = now_ms;
  }
}

Call::Refusal Call::MayRejoin(CallDevice device) const {
  if (ended()) return Refusal::kEnded;
  const bool dropped = std::any_of(members_.begin(), members_.end(), [&](const Member& m) {
    return !m.left && m.dropped_at && m.device.user == device.user;
  });
  return dropped ? Refusal::kNone : Refusal::kNotJoined;
}

Call::Refusal Call::Rejoin(CallDevice device, int64_t now_ms, std::vector<CallSignal>& out) {
  (void)now_ms;
  if (ended()) return Refusal::kEnded;
  // A reconnect is a new connection: the user's dropped device is the one it replaces.
  for (Member& m : members_) {
    if (m.left || !m.dropped_at || m.device.user != device.user) continue;
    Tell(CallSignal::Kind::kLeft, m.device, out);
    m.device = device;
    m.dropped_at.reset();
    Tell(CallSignal::Kind::kJoined, device, out);
    return Refusal::kNone;
  }
  return Refusal::kNotJoined;
}

void Call::Remove(int64_t user, int64_t now_ms, std::vector<CallSignal>& out) {
  if (ended()) return;
  if (auto invite = invites_.find(user);
      invite != invites_.end() && invite->second == Invite::kRinging) {
    invite->second = Invite::kDeclined;
    out.push_back(CallSignal{.kind = CallSignal::Kind::kStopRinging,
                             .to = user,
                             .about = caller_,
                             .reason = CallEndReason::kRemoved});
  }
  for (Member& m : members_) {
    if (m.left || m.device.user != user) continue;
    const bool dropped = m.dropped_at.has_value();
    m.left = true;
    m.dropped_at.reset();
    Tell(CallSignal::Kind::kLeft, m.device, out);
    if (!dropped) {
      out.push_back(CallSignal{.kind = CallSignal::Kind::kEnded,
                               .to = user,
                               .device = m.device.device,
                               .about = m.device,
                               .reason = CallEndReason::kRemoved});
    }
  }
  if (!answered_at_) {
    // Before an answer the call needs its caller, and someone to ring.
    if (user == caller_.user || !AnyRinging()) {
      End(CallOutcome::kCancelled, now_ms, out, CallEndReason::kRemoved);
    }
  } else if (Present() < 2) {
    End(CallOutcome::kCompleted, now_ms, out, CallEndReason::kRemoved);
  }
}

void Call::EndBy(CallEndReason reason, int64_t now_ms, std::vector<CallSignal>& out) {
  if (ended()) return;
  End(answered_at_ ? CallOutcome::kCompleted : CallOutcome::kCancelled, now_ms, out, reason);
}

void Call::Tick(int64_t now_ms, std::vector<CallSignal>& out) {
  if (ended()) return;
  if (now_ms >= started_at_ + options_.ring_timeout_ms) {
    if (!answered_at_) return End(CallOutcome::kMissed, now_ms, out);
    StopRinging(0, std::nullopt, out);  // A group call goes on; its invite rings no more.
    for (auto& [user, invite] : invites_) {
      if (invite == Invite::kRinging) invite = Invite::kDeclined;
    }
  }
  for (Member& m : members_) {
    if (ended()) return;
    if (m.left || !m.dropped_at || now_ms < *m.dropped_at + options_.rejoin_grace_ms) continue;
    Leave(m, now_ms, out);
  }
}

std::optional<int64_t> Call::NextDeadline() const {
  if (ended()) return std::nullopt;
  std::optional<int64_t> next;
  auto consider = [&](int64_t at) { next = next ? std::min(*next, at) : at; };
  if (AnyRinging()) consider(started_at_ + options_.ring_timeout_ms);
  for (const Member& m : members_) {
    if (!m.left && m.dropped_at) consider(*m.dropped_at + options_.rejoin_grace_ms);
  }
  return next;
}

bool Call::MayRelay(CallDevice from, CallDevice to) const {
  if (ended() || from == to) return false;
  const Member* a = Find(from);
  const Member* b = Find(to);
  return a != nullptr && b != nullptr && !a->dropped_at && !b->dropped_at;
}

int64_t Call::duration_ms() const {
  return answered_at_ && ended_at_ ? *ended_at_ - *answered_at_ : 0;
}

std::vector<int64_t> Call::joined_users() const {
  std::vector<int64_t> users;
  for (const Member& m : members_) {
    if (std::find(users.begin(), users.end(), m.device.user) == users.end()) {
      users.push_back(m.device.user);
    }
  }
  return users;
}

std::vector<CallDevice> Call::present_devices() const {
  std::vector<CallDevice> devices;
  for (const Member& m : members_) {
    if (!m.left) devices.push_back(m.device);
  }
  return devices;
}

bool Call::ringing(int64_t user) const {
  auto invite = invites_.find(user);
  return !ended() && invite != invites_.end() && invite->second == Invite::kRinging;
}

}  // namespace ringcast::chat
