// Call: one audio or video call in one conversation (issue 26): who rings on which device, who
// has joined, and how the call ends. The rules of proto/PROTOCOL.md, "Calls" (to be written with
// the signalling): an invite rings every device of each invitee; in a 1:1 the first device to
// accept takes the call and the callee's other devices stop ringing; no answer within the ring
// timeout ends the call as missed; a participant whose connection drops may rejoin within a
// grace period, after which the call goes on without it, and ends when fewer than two remain.
//
// Pure state, no I/O and no clock: the owner (the conversation's owner, on its shard) feeds it
// events with the time and delivers the signals it returns, and calls Tick() at NextDeadline().
// Devices are opaque ids (the session's connection) paired with their user.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

namespace ringcast::chat {

enum class CallKind : uint8_t { kAudio, kVideo };
enum class CallOutcome : uint8_t { kNone, kCompleted, kMissed, kDeclined, kCancelled, kFailed };
// Why the server put a device out of a call, or ended it, against what its devices did: a member
// removed from the group, a block between a 1:1's members (proto/PROTOCOL.md, "Calls").
enum class CallEndReason : uint8_t { kNone, kRemoved, kBlocked };

std::string_view CallKindName(CallKind kind);
std::string_view CallOutcomeName(CallOutcome outcome);
std::string_view CallEndReasonName(CallEndReason reason);  // "" for kNone.

struct CallDevice {
  int64_t user = 0;
  uint64_t device = 0;
  friend bool operator==(const CallDevice&, const CallDevice&) = default;
};

struct CallOptions {
  int64_t ring_timeout_ms = 45'000;  // --call-ring-timeout
  uint32_t max_participants = 4;     // --call-max-participants (group calls: a mesh)
  int64_t rejoin_grace_ms = 10'000;  // a dropped participant may come back this long
};

// What the owner tells whom. `device`: one device of `to`; nullopt: every device of `to`.
struct CallSignal {
  enum class Kind : uint8_t {
    kRing,         // An invite: start ringing (every device of `to`).
    kStopRinging,  // Answered on another device (`about`), declined, or the call ended.
    kJoined,       // `about` joined (the callee accepted, or a member joined a group call).
    kLeft,         // `about` left the call, or did not come back within the grace period.
    kDeclined,     // `about` (a user) declined.
    kEnded,        // The call is over (for `device`, when the call goes on without it).
  };
  Kind kind;
  int64_t to = 0;
  std::optional<uint64_t> device;
  CallDevice about;
  CallEndReason reason = CallEndReason::kNone;  // kStopRinging, kEnded: the server's doing.
};

class Call {
 public:
  enum class Refusal : uint8_t {
    kNone,
    kEnded,        // The call is over.
    kNotInvited,   // Not a member the call rings, or already declined.
    kFull,         // max_participants have joined.
    kNotAnswered,  // Leave/hang-up rules: the caller cancels instead; others decline.
    kNotCaller,    // Only the caller may cancel.
    kAnswered,     // Too late to cancel: hang up instead.
    kNotJoined,    // The device is not in the call.
  };

  // The caller's device invites `invitees` (a 1:1's other member; a group's other members):
  // signals kRing to each.
  Call(uint64_t id, int64_t conv, CallKind kind, bool group, CallDevice caller,
       std::vector<int64_t> invitees, int64_t now_ms, const CallOptions& options,
       std::vector<CallSignal>& out);

  // In a group call the holder has checked that device.user is a member of the conversation
  // now (the store is the authority): any member not in the call may join, rung or not (a
  // group larger than --call-ring-max rings only some). In a 1:1 only the ringing callee.
  Refusal Accept(CallDevice device, int64_t now_ms, std::vector<CallSignal>& out);
  // What Accept would answer now, changing nothing: the holder asks before the store.
  Refusal MayAccept(CallDevice device) const;
  Refusal Decline(int64_t user, int64_t now_ms, std::vector<CallSignal>& out);
  Refusal Cancel(CallDevice device, int64_t now_ms, std::vector<CallSignal>& out);
  Refusal HangUp(CallDevice device, int64_t now_ms, std::vector<CallSignal>& out);
  // The device's connection dropped: a joined device has rejoin_grace_ms to Rejoin; a caller
  // still waiting for an answer too. Nothing for others.
  void Dropped(CallDevice device, int64_t now_ms, std::vector<CallSignal>& out);
  Refusal Rejoin(CallDevice device, int64_t now_ms, std::vector<CallSignal>& out);
  // What Rejoin would answer now, changing nothing.
  Refusal MayRejoin(CallDevice device) const;
  // `user` is no longer a member of the conversation (removed from the group): it stops
  // ringing, and each of its devices in the call leaves (told kEnded, kRemoved; the others
  // kLeft). The call ends as hang-ups end it; cancelled when its caller goes before an answer
  // or nobody is left to ring.
  void Remove(int64_t user, int64_t now_ms, std::vector<CallSignal>& out);
  // Ends the call now for every device, whatever state it is in (a block in a 1:1): completed
  // when it was answered, else cancelled, with `reason`.
  void EndBy(CallEndReason reason, int64_t now_ms, std::vector<CallSignal>& out);
  // Ends what is due at `now_ms`: the ring timeout, grace periods.
  void Tick(int64_t now_ms, std::vector<CallSignal>& out);
  std::optional<int64_t> NextDeadline() const;

  // Whether SDP and ICE from `from` may be relayed to `to`: both are joined devices (the
  // caller's counts as joined from the invite).
  bool MayRelay(CallDevice from, CallDevice to) const;

  uint64_t id() const { return id_; }
  int64_t conv() const { return conv_; }
  CallKind kind() const { return kind_; }
  bool group() const { return group_; }
  const CallDevice& caller() const { return caller_; }
  bool ended() const { return outcome_ != CallOutcome::kNone; }
  CallOutcome outcome() const { return outcome_; }
  CallEndReason end_reason() const { return end_reason_; }
  int64_t started_at() const { return started_at_; }
  std::optional<int64_t> answered_at() const { return answered_at_; }
  std::optional<int64_t> ended_at() const { return ended_at_; }
  // answered_at to ended_at; 0 for a call never answered.
  int64_t duration_ms() const;
  // Users who joined at some point, the caller included.
  std::vector<int64_t> joined_users() const;
  // The devices in the call now (joined, not left; a dropped one until its grace ends).
  std::vector<CallDevice> present_devices() const;
  // Whether the invite still rings `user`'s devices.
  bool ringing(int64_t user) const;
  // Whether a device of `user` is in the call now (joined, not left).
  bool HasPresentDevice(int64_t user) const;
  // The caller, or a user the invite rang.
  bool Involves(int64_t user) const { return user == caller_.user || invites_.contains(user); }

 private:
  enum class Invite : uint8_t { kRinging, kDeclined, kJoined };
  struct Member {
    CallDevice device;
    std::optional<int64_t> dropped_at;  // Waiting for Rejoin until dropped_at + grace.
    bool left = false;
  };

  Member* Find(CallDevice device);
  const Member* Find(CallDevice device) const;
  size_t Present() const;  // Joined and not left (dropped ones count until their grace ends).
  void StopRinging(int64_t except_user, std::optional<CallDevice> answered_on,
                   std::vector<CallSignal>& out, CallEndReason reason = CallEndReason::kNone);
  void Leave(Member& member, int64_t now_ms, std::vector<CallSignal>& out);
  void End(CallOutcome outcome, int64_t now_ms, std::vector<CallSignal>& out,
           CallEndReason reason = CallEndReason::kNone);
  bool AnyRinging() const;
  void Tell(CallSignal::Kind kind, CallDevice about, std::vector<CallSignal>& out,
            std::optional<int64_t> except_user = std::nullopt) const;

  const uint64_t id_;
  const int64_t conv_;
  const CallKind kind_;
  const bool group_;
  const CallDevice caller_;
  const CallOptions options_;
  const int64_t started_at_;
  std::optional<int64_t> answered_at_, ended_at_;
  CallOutcome outcome_ = CallOutcome::kNone;
  CallEndReason end_reason_ = CallEndReason::kNone;
  std::map<int64_t, Invite> invites_;  // By user: each rung member's answer so far.
  std::vector<Member> members_;        // Joined devices in join order, the caller's first.
};

}  // namespace ringcast::chat
