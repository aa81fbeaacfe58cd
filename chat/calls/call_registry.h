// CallRegistry: the calls one shard holds (proto/PROTOCOL.md, "Calls: signalling"; chat/README.md,
// "Calls").
//
// Owner: its shard's thread (one per ChatShard). A call is held by the conversation's owner
// shard on the node of the caller's connection, from its invite to its end: every request about
// it comes here (CallLink routes by the call's id, calls/call_mail.h), and everything its
// devices hear goes out from here as CallNotes (DeliverCallNote: the device's shard, or every
// shard for all of a user's devices; in cluster mode every node too). The rules of one call are
// Call's (pure); this class adds what needs the world: the store (who may be called, the record),
// the busy marks, the clock, the notes and the acks.
//
// One call per user and one per conversation: before an invite rings, and before a group call
// takes a new member, the keys "user:<id>" (and "conv:<id>") are reserved for the call, all or
// none: on a single node in shard 0's table (ReserveHere), in cluster mode in Redis
// (ClusterCalls), with an expiry the holder refreshes so that a dead node's marks go by
// themselves. They are released when the call ends.
//
// Who may be in a call is the store's to say, never a copy: an invite, an accept and a rejoin
// each ask it (FindCallPeers) whether the user is a member of the conversation now and, in a
// 1:1, whether either blocks the other. A removal from the group reaches the holder through the
// conversation's owner shard (OnMembersRemoved, on every node) and puts the member out of the
// call; a block reaches it through the blocker's busy mark (EndBlockedCall) and ends a 1:1.
//
// Bounded: one call per conversation, each of at most --call-max-participants devices and
// --call-ring-max rung members; a busy mark per user in a call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "chat/calls/call.h"
#include "chat/calls/call_mail.h"
#include "chat/chat_metrics.h"
#include "storage/chat_store.h"

namespace ringcast {
class Shard;
}

namespace ringcast::chat {

class ChatService;

// Sends `note` to its device(s) on this node: one mail to the device's shard, or one to every
// shard for all of a user's devices. Any thread.
void DeliverCallNote(ChatService& service, CallNote note);

class CallRegistry {
 public:
  CallRegistry(Shard& shard, ChatService& service, ChatMetrics& metrics);
  ~CallRegistry();

  // A request for a call held here (or, kInvite, for one to start here).
  void Handle(CallRequest request);
  // `users` were removed from `conv` (on this node or another; the owner shard's thread): they
  // stop ringing in its call held here, and their devices leave it.
  void OnMembersRemoved(int64_t conv, const std::vector<int64_t>& users);
  // `blocker` blocked `blocked` (on shard `here`): the 1:1 call between them, if one is going on
  // or ringing, ends at once for both (proto/PROTOCOL.md, "Calls: signalling"). Found through
  // the blocker's busy mark, which names the call and so its holder.
  static void EndBlockedCall(ChatService& service, uint32_t here, int64_t blocker, int64_t blocked);
  // Cluster mode: `node` died; its devices in the calls held here drop (as if each had closed).
  void OnNodeDead(std::string_view node);
  // Every tick (100 ms): the calls whose ring timeout or rejoin grace is due; in cluster mode
  // the refresh of their busy marks.
  void OnTick(int64_t now_ms);

  // Shard 0 of a single node: the busy table. Reserves every key for `call` unless one is held
  // by another call: then nothing, and that key and its call.
  std::optional<std::pair<std::string, std::string>> ReserveHere(
      const std::vector<std::string>& keys, const std::string& call);
  void ReleaseHere(const std::vector<std::string>& keys, const std::string& call);
  // The call holding `key` in shard 0's table; empty: none.
  std::string HolderHere(const std::string& key) const;

  size_t size() const { return calls_.size(); }

 private:
  struct Held;
  enum class Verdict : uint8_t { kReserved, kBusy, kUnavailable };
  using Reserved = std::function<void(CallRegistry&, Verdict, const std::string& busy_key,
                                      const std::string& busy_call)>;

  // Handle's steps. Refused: whether `refusal` refused `request` (then answered).
  bool Refused(const CallRequest& request, Call::Refusal refusal);
  // false: refused, nothing to settle.
  bool HangUp(Held& held, const CallRequest& request, int64_t now,
              std::vector<CallSignal>& signals);
  void Rejoin(Held& held, CallRequest request);
  void Invite(CallRequest request);
  void StartCall(CallRequest request, const storage::CallPeers& peers, std::string id,
                 std::vector<std::string> keys);
  // Asks the store whether request.from.user is a member of the call's conversation now (and
  // in a 1:1 not parted by a block), then `then` with the call if it is still held here;
  // refuses the request otherwise.
  using Checked = std::function<void(CallRegistry&, Held&, CallRequest)>;
  void CheckMember(const Held& held, CallRequest request, Checked then);
  void Accept(Held& held, CallRequest request);
  void RefuseJoin(const CallRequest& request, Call::Refusal refusal);
  // `reserved_now`: the user's busy mark was taken for this accept, and goes if it is refused.
  void Join(Held& held, const CallRequest& request, bool reserved_now);
  // Where a device that joined from another node is (`request.node`).
  void NoteNode(Held& held, const CallRequest& request);
  // Releases `user`'s busy mark (a group member out of the call while it goes on).
  void ForgetMember(Held& held, int64_t user);
  void Signal(Held& held, const CallRequest& request);
  // The caller hears that a callee's device rings (once per callee).
  void TellRinging(Held& held, const CallRequest& request);
  // Delivers what the call said and, once it is over, finishes it (Finish).
  void Settle(Held& held, std::vector<CallSignal>& signals);
  // Settle's steps. A ring and the end of one for the run of like signals from `at` on, as one
  // note: each returns the last signal it told.
  size_t TellRing(const Held& held, const std::vector<CallSignal>& signals, size_t at);
  size_t TellStopRinging(const Held& held, const std::vector<CallSignal>& signals, size_t at);
  void TellEnded(const Held& held, const CallSignal& signal, uint64_t device, std::string_view node,
                 int64_t now);
  // Releases the busy marks, appends the record, publishes the job, forgets the call.
  void Finish(Held& held);
  void AppendRecord(const Held& held);

  // The busy marks: shard 0's table on a single node, Redis in cluster mode.
  void Reserve(std::vector<std::string> keys, const std::string& call, Reserved then);
  void Release(const std::vector<std::string>& keys, const std::string& call);

  // The notes (call_registry_notes.cc). A note to `device` of `user` (0: every device but
  // `except_device`). `node`: the device's node when not this one (cluster mode), where the note
  // goes alone.
  void Tell(int64_t user, uint64_t device, std::string json, CallTrack track,
            const std::string& call, std::string_view node = {}, uint64_t except_device = 0);
  // One note to every device of each of `users` (a ring, or its end).
  void TellAll(std::vector<int64_t> users, std::string json, CallTrack track, const Held& held);
  void Send(CallNote note, std::string_view node);
  // The node of a device in `held` that joined from another one; empty: this node.
  static std::string_view NodeOf(const Held& held, CallDevice device);
  void Ack(const CallRequest& request, const Held* held, CallTrack track);
  void Refuse(const CallRequest& request, std::string_view code, std::string_view message,
              std::string_view busy_call = {});

  Shard& shard_;
  ChatService& service_;
  ChatMetrics& metrics_;
  const CallOptions options_;
  std::mt19937_64 random_;
  std::unordered_map<std::string, std::unique_ptr<Held>> calls_;  // By id.
  std::unordered_map<std::string, std::string> busy_;  // Shard 0, single node: key → call.
  int64_t next_refresh_ms_ = 0;                        // Monotonic (cluster mode).
};

// One call held here (defined here for call_registry.cc and call_registry_notes.cc).
struct CallRegistry::Held {
  std::string id;
  std::unique_ptr<Call> call;
  std::vector<std::string> keys;     // The busy marks reserved for it.
  std::unordered_set<int64_t> rang;  // Users whose ringing the caller has been told.
  // Devices in the call on other nodes, with their node (cluster mode): at most
  // --call-max-participants.
  std::vector<std::pair<CallDevice, std::string>> remote;
  int64_t started_wall_ms = 0;  // For the record: Call counts on the monotonic clock.
  // Users removed from the conversation while the call went on: refused, even when an accept's
  // check in the store crossed their removal (at most the group's members).
  std::unordered_set<int64_t> removed;
};

}  // namespace ringcast::chat
