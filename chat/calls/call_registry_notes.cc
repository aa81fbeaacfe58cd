// CallRegistry, what a call's devices hear: the notes (CallNote) for what Call decided, sent to
// the device's shard, every shard, and in cluster mode the device's node or every node; the acks
// and refusals of requests; the signals relayed between devices (chat/calls/call_registry.h).
#include <algorithm>

#include "chat/calls/call_registry.h"
#include "chat/chat_shard.h"
#include "chat/cluster/cluster_link.h"
#include "chat/service.h"
#include "proto/json_writer.h"

namespace ringcast::chat {
namespace {

JsonWriter& Device(JsonWriter& writer, CallDevice device) {
  return writer.BeginObject()
      .Field("user", device.user)
      .Field("device", int64_t(device.device))
      .EndObject();
}

std::string EventAbout(std::string_view type, const std::string& call, CallDevice about) {
  JsonWriter writer;
  writer.BeginObject().Field("type", type).Field("call", call).Field("user", about.user);
  if (about.device != 0) writer.Field("device", int64_t(about.device));
  return writer.EndObject().Take();
}

// Why a user's devices stop ringing, and the device of theirs that answered (it keeps its call;
// 0: none).
std::pair<std::string_view, uint64_t> StopReason(const Call& call, const CallSignal& signal) {
  if (signal.reason != CallEndReason::kNone) return {CallEndReasonName(signal.reason), 0};
  const bool own = signal.about.user == signal.to;
  const uint64_t answered_on = own ? signal.about.device : 0;
  return {own            ? (answered_on != 0 ? "answered" : "declined")
          : call.ended() ? CallOutcomeName(call.outcome())
                         : "timeout",
          answered_on};
}

}  // namespace

void DeliverCallNote(ChatService& service, CallNote note) {
  if (note.device != 0) {
    const uint32_t shard = DeviceShard(note.device);
    if (shard >= service.shard_count()) return;  // Not a device of this node: no such shard.
    service.PostOrHold(shard, [note = std::move(note)](ChatShard& self) {
      self.sessions().rings().OnCallNote(note);
    });
    return;
  }
  auto shared = std::make_shared<const CallNote>(std::move(note));
  service.PostToEveryShard(
      [&] { return [shared](ChatShard& self) { self.sessions().rings().OnCallNote(*shared); }; });
}

void CallRegistry::TellRinging(Held& held, const CallRequest& request) {
  const Call& call = *held.call;
  if (call.ended() || !held.rang.insert(request.from.user).second) return;
  Tell(call.caller().user, call.caller().device,
       EventAbout("call_ringing", held.id, CallDevice{request.from.user, 0}), CallTrack::kNone,
       held.id, NodeOf(held, call.caller()));
}

void CallRegistry::Signal(Held& held, const CallRequest& request) {
  if (!held.call->MayRelay(request.from, request.to)) {
    return Refuse(request, "forbidden", "both devices must be in the call");
  }
  JsonWriter writer(96 + request.signal_json.size());
  // Raw: the session's parser wrote signal_json anew (calls/signal_payload.h), not the client.
  writer.BeginObject().Field("type", "call_signal").Field("call", held.id).Key("from");
  Device(writer, request.from).Key(request.signal_key).Raw(request.signal_json);
  Tell(request.to.user, request.to.device, writer.EndObject().Take(), CallTrack::kNone, held.id,
       NodeOf(held, request.to));
  ++metrics_.call_signals;
  Ack(request, &held, CallTrack::kNone);
}

void CallRegistry::Settle(Held& held, std::vector<CallSignal>& signals) {
  const Call& call = *held.call;
  const int64_t now = service_.clock().MonotonicMs();
  for (size_t i = 0; i < signals.size(); ++i) {
    const CallSignal& signal = signals[i];
    const uint64_t device = signal.device.value_or(0);
    const std::string_view node = NodeOf(held, CallDevice{signal.to, device});
    switch (signal.kind) {
      case CallSignal::Kind::kRing:
        i = TellRing(held, signals, i);
        break;
      case CallSignal::Kind::kStopRinging:
        i = TellStopRinging(held, signals, i);
        break;
      case CallSignal::Kind::kJoined:
        Tell(signal.to, device, EventAbout("call_joined", held.id, signal.about), CallTrack::kNone,
             held.id, node);
        break;
      case CallSignal::Kind::kLeft:
        Tell(signal.to, device, EventAbout("call_left", held.id, signal.about), CallTrack::kNone,
             held.id, node);
        break;
      case CallSignal::Kind::kDeclined:
        Tell(signal.to, device,
             EventAbout("call_declined", held.id, CallDevice{signal.about.user, 0}),
             CallTrack::kNone, held.id, node);
        break;
      case CallSignal::Kind::kEnded:
        TellEnded(held, signal, device, node, now);
        break;
    }
  }
  signals.clear();
  if (call.ended()) Finish(held);
}

size_t CallRegistry::TellRing(const Held& held, const std::vector<CallSignal>& signals, size_t at) {
  const Call& call = *held.call;
  // Every user the invite rings hears the same event: one note for them all.
  std::vector<int64_t> users = {signals[at].to};
  for (; at + 1 < signals.size() && signals[at + 1].kind == CallSignal::Kind::kRing; ++at) {
    users.push_back(signals[at + 1].to);
  }
  JsonWriter writer;
  TellAll(std::move(users),
          writer.BeginObject()
              .Field("type", "call_ring")
              .Field("call", held.id)
              .Field("conv", call.conv())
              .Field("from", call.caller().user)
              .Field("call_kind", CallKindName(call.kind()))
              .Field("group", call.group())
              .EndObject()
              .Take(),
          CallTrack::kRing, held);
  return at;
}

size_t CallRegistry::TellStopRinging(const Held& held, const std::vector<CallSignal>& signals,
                                     size_t at) {
  const CallSignal& signal = signals[at];
  const auto [reason, answered_on] = StopReason(*held.call, signal);
  std::vector<int64_t> users = {signal.to};
  // The end of a ring for many users at once (the call ended, rang out): one note.
  while (answered_on == 0 && at + 1 < signals.size() &&
         signals[at + 1].kind == CallSignal::Kind::kStopRinging &&
         StopReason(*held.call, signals[at + 1]) == std::pair(reason, uint64_t{0})) {
    users.push_back(signals[++at].to);
  }
  JsonWriter writer;
  writer.BeginObject()
      .Field("type", "call_stop_ringing")
      .Field("call", held.id)
      .Field("reason", reason)
      .EndObject();
  if (answered_on != 0) {
    Tell(signal.to, 0, writer.Take(), CallTrack::kStopRing, held.id, {}, answered_on);
  } else {
    TellAll(std::move(users), writer.Take(), CallTrack::kStopRing, held);
  }
  return at;
}

void CallRegistry::TellEnded(const Held& held, const CallSignal& signal, uint64_t device,
                             std::string_view node, int64_t now) {
  const Call& call = *held.call;
  // A device put out of a call that goes on (its user removed from the group) hears the call
  // end for it: it was answered, so completed for that device.
  JsonWriter writer;
  writer.BeginObject()
      .Field("type", "call_ended")
      .Field("call", held.id)
      .Field("conv", call.conv())
      .Field("outcome", call.ended() ? CallOutcomeName(call.outcome()) : "completed")
      .Field("duration_ms",
             call.ended() ? call.duration_ms() : now - call.answered_at().value_or(now));
  if (signal.reason != CallEndReason::kNone) {
    writer.Field("reason", CallEndReasonName(signal.reason));
  }
  Tell(signal.to, device, writer.EndObject().Take(), CallTrack::kOut, held.id, node);
}

void CallRegistry::Tell(int64_t user, uint64_t device, std::string json, CallTrack track,
                        const std::string& call, std::string_view node, uint64_t except_device) {
  Send(CallNote{.users = {user},
                .device = device,
                .except_device = except_device,
                .track = track,
                .call = call,
                .json = std::move(json)},
       node);
}

void CallRegistry::TellAll(std::vector<int64_t> users, std::string json, CallTrack track,
                           const Held& held) {
  Send(CallNote{.users = std::move(users),
                .track = track,
                .conv = held.call->conv(),
                .call = held.id,
                .json = std::move(json)},
       {});
}

void CallRegistry::Send(CallNote note, std::string_view node) {
  ClusterLink* cluster = service_.cluster();
  // One device: where it is, so that its absence there means it is gone. Every device of
  // users: every node.
  if (note.device != 0 && !node.empty() && cluster != nullptr) {
    ++metrics_.call_note_publishes;
    return cluster->ForwardCallNote(node, note);
  }
  if (note.device == 0 && cluster != nullptr) {
    ++metrics_.call_note_publishes;
    cluster->PublishCallNote(note);
  }
  metrics_.call_note_mails += note.device != 0 ? 1 : service_.shard_count();
  DeliverCallNote(service_, std::move(note));
}

std::string_view CallRegistry::NodeOf(const Held& held, CallDevice device) {
  for (const auto& [remote, node] : held.remote) {
    if (remote == device) return node;
  }
  return {};
}

void CallRegistry::Ack(const CallRequest& request, const Held* held, CallTrack track) {
  if (request.cid.empty()) return;
  JsonWriter writer;
  writer.BeginObject().Field("type", "call_ack").Field("cid", request.cid).Field("call", held->id);
  if (request.op == CallOp::kHangUp || request.op == CallOp::kCancel ||
      request.op == CallOp::kDecline) {
    // Whether the call is over (call_ended follows) or goes on without this device.
    writer.Field("ended", held->call->ended());
  }
  if (request.op == CallOp::kAccept || request.op == CallOp::kRejoin) {
    writer.Key("participants").BeginArray();
    for (CallDevice device : held->call->present_devices()) {
      if (!(device == request.from)) Device(writer, device);
    }
    writer.EndArray();
  }
  Tell(request.from.user, request.from.device, writer.EndObject().Take(), track, held->id,
       request.node);
}

void CallRegistry::Refuse(const CallRequest& request, std::string_view code,
                          std::string_view message, std::string_view busy_call) {
  if (request.cid.empty()) return;
  JsonWriter writer;
  writer.BeginObject().Field("type", "error").Field("code", code).Field("message", message);
  writer.Field("cid", request.cid);
  if (!busy_call.empty()) writer.Field("call", busy_call);
  Tell(request.from.user, request.from.device, writer.EndObject().Take(), CallTrack::kNone,
       request.call, request.node);
}

}  // namespace ringcast::chat
