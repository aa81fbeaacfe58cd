// CallRings: the devices' part in calls on one shard (proto/PROTOCOL.md, "Calls: signalling";
// the requests are chat/ops/call_ops.cc's): the holder's notes to this shard's devices, the
// calls ringing for each user (what a device that connects meanwhile finds in its hello), and
// what a device's close or its holder's death means for the calls it is in.
//
// Owner: its SessionHost's shard. Every shard hears every ring, from every node; a ring is
// forgotten when it stops, when the user is removed from its conversation, or
// --call-ring-timeout after it began if those notes were lost. At most --call-ring-max users
// per ring.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chat/calls/call_mail.h"

namespace ringcast::chat {

class SessionHost;
struct Session;

class CallRings {
 public:
  explicit CallRings(SessionHost& host) : host_(host) {}

  // What a call's holder tells one device or every device of the note's users here.
  void OnCallNote(const CallNote& note);
  // A dead node's calls end for the devices here that were in them.
  void OnCallHolderDead(std::string_view node);
  // The session's connection closed: the holders of its calls hear of it.
  void DropCalls(Session& session);
  // `user` was removed from `conv`: its calls there ring for them no more.
  void ForgetConversation(int64_t user, int64_t conv);
  // The rings of `session`'s user in the conversations it is in (their call_ring events),
  // hello's `ringing`.
  std::vector<std::string_view> RingingFor(const Session& session) const;
  // Once a second: forgets the rings past their timeout.
  void Sweep(int64_t now_ms);

 private:
  struct Ringing {
    std::string call;
    int64_t conv = 0;      // A member removed from it forgets it (and hello lists only members').
    std::string json;      // The call_ring event.
    int64_t until_ms = 0;  // Monotonic.
  };
  void OnCallNoteFor(int64_t user, const CallNote& note);
  void ForgetRings(int64_t user, const std::function<bool(const Ringing&)>& which);

  SessionHost& host_;
  std::unordered_map<int64_t, std::vector<Ringing>> ringing_;
};

}  // namespace ringcast::chat
