// The devices' part in calls on one shard (chat/sessions/call_rings.h).
#include "chat/sessions/call_rings.h"

#include <algorithm>

#include "chat/sessions/session_host.h"
#include "proto/json_writer.h"

namespace ringcast::chat {
namespace {

// Calls one device keeps track of: more than a user can be in (one) plus those ending.
constexpr size_t kMaxTrackedCalls = 4;

}  // namespace

void CallRings::OnCallNote(const CallNote& note) {
  for (int64_t user : note.users) OnCallNoteFor(user, note);
}

void CallRings::OnCallNoteFor(int64_t user, const CallNote& note) {
  if (note.device == 0 && note.track == CallTrack::kRing) {
    ringing_[user].push_back(Ringing{
        .call = note.call,
        .conv = note.conv,
        .json = note.json,
        .until_ms =
            host_.clock().MonotonicMs() + int64_t{host_.config().call_ring_timeout_s} * 1000});
  } else if (note.device == 0 && note.track == CallTrack::kStopRing) {
    ForgetRings(user, [&](const Ringing& ring) { return ring.call == note.call; });
  }
  bool rang = false, found = false;
  for (Session* session : host_.SessionsOf(user)) {
    if (session->phase != Session::Phase::kReady) continue;
    if (note.device != 0 ? session->device != note.device : session->device == note.except_device) {
      continue;
    }
    found = true;
    session->Send(note.json);
    auto tracked = std::find(session->calls.begin(), session->calls.end(), note.call);
    switch (note.track) {
      case CallTrack::kIn:
        if (tracked != session->calls.end()) break;
        if (session->calls.size() == kMaxTrackedCalls) session->calls.erase(session->calls.begin());
        session->calls.push_back(note.call);
        break;
      case CallTrack::kOut:
        if (tracked != session->calls.end()) session->calls.erase(tracked);
        break;
      case CallTrack::kRing:
        rang = true;
        break;
      case CallTrack::kStopRing:
      case CallTrack::kNone:
        break;
    }
  }
  // A device that closed while its accept or rejoin was on its way: the holder learns it now,
  // as it would have from the close (a note for one device comes to its node and shard only).
  if (note.track == CallTrack::kIn && note.device != 0 && !found) {
    (void)host_.calls().Send(CallRequest{
        .op = CallOp::kDropped, .from = CallDevice{user, note.device}, .call = note.call});
  }
  // The caller hears that the callee's phone rings (once per user: the holder counts).
  if (rang) {
    (void)host_.calls().Send(
        CallRequest{.op = CallOp::kRinging, .from = CallDevice{user, 0}, .call = note.call});
  }
}

void CallRings::ForgetRings(int64_t user, const std::function<bool(const Ringing&)>& which) {
  auto rings = ringing_.find(user);
  if (rings == ringing_.end()) return;
  std::erase_if(rings->second, which);
  if (rings->second.empty()) ringing_.erase(rings);
}

void CallRings::ForgetConversation(int64_t user, int64_t conv) {
  ForgetRings(user, [conv](const Ringing& ring) { return ring.conv == conv; });
}

std::vector<std::string_view> CallRings::RingingFor(const Session& session) const {
  std::vector<std::string_view> events;
  auto rings = ringing_.find(session.user);
  if (rings == ringing_.end()) return events;
  // Only a conversation the session is in, as the store said at its start: a ring whose end
  // has not come here yet is not shown to a member removed meanwhile.
  for (const Ringing& ring : rings->second) {
    if (session.convs.contains(ring.conv)) events.push_back(ring.json);
  }
  return events;
}

void CallRings::DropCalls(Session& session) {
  for (std::string& call : session.calls) {
    (void)host_.calls().Send(CallRequest{.op = CallOp::kDropped,
                                         .from = CallDevice{session.user, session.device},
                                         .call = std::move(call)});
  }
  session.calls.clear();
}

void CallRings::OnCallHolderDead(std::string_view node) {
  for (const std::unique_ptr<Session>& session : host_.sessions()) {
    auto& calls = session->calls;
    for (auto it = calls.begin(); it != calls.end();) {
      auto holder = ParseCallId(*it);
      if (!holder || holder->node != node) {
        ++it;
        continue;
      }
      if (session->phase == Session::Phase::kReady) {
        JsonWriter writer;
        session->Send(writer.BeginObject()
                          .Field("type", "call_ended")
                          .Field("call", *it)
                          .Field("outcome", "failed")
                          .Field("duration_ms", int64_t{0})
                          .EndObject()
                          .str());
      }
      it = calls.erase(it);
    }
  }
}

void CallRings::Sweep(int64_t now_ms) {
  for (auto it = ringing_.begin(); it != ringing_.end();) {
    std::erase_if(it->second, [now_ms](const Ringing& ring) { return ring.until_ms <= now_ms; });
    it = it->second.empty() ? ringing_.erase(it) : std::next(it);
  }
}

}  // namespace ringcast::chat
