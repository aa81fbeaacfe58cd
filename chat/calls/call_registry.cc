#include "chat/calls/call_registry.h"

#include <algorithm>

#include "chat/chat_shard.h"
#include "chat/cluster/cluster_calls.h"
#include "chat/cluster/cluster_link.h"
#include "chat/service.h"
#include "chat/sessions/call_link.h"
#include "core/log.h"
#include "core/runtime/shard.h"
#include "notify/sink.h"
#include "proto/json_writer.h"
#include "storage/message_kinds.h"

namespace ringcast::chat {

namespace {

std::string UserKey(int64_t user) { return "user:" + std::to_string(user); }
std::string ConvKey(int64_t conv) { return "conv:" + std::to_string(conv); }

}  // namespace

CallRegistry::CallRegistry(Shard& shard, ChatService& service, ChatMetrics& metrics)
    : shard_(shard),
      service_(service),
      metrics_(metrics),
      options_{.ring_timeout_ms = int64_t{service.config().call_ring_timeout_s} * 1000,
               .max_participants = service.config().call_max_participants,
               .rejoin_grace_ms = int64_t{service.config().call_rejoin_grace_s} * 1000},
      random_(std::random_device{}()) {}

CallRegistry::~CallRegistry() = default;

void CallRegistry::Handle(CallRequest request) {
  if (request.op == CallOp::kInvite) return Invite(std::move(request));
  auto found = calls_.find(request.call);
  if (found == calls_.end()) {
    if (request.op == CallOp::kRinging || request.op == CallOp::kDropped) return;
    return Refuse(request, "not_found", "no such call (it is over, or was never yours)");
  }
  Held& held = *found->second;
  Call& call = *held.call;
  const int64_t now = service_.clock().MonotonicMs();
  std::vector<CallSignal> signals;
  switch (request.op) {
    case CallOp::kInvite:
      return;
    case CallOp::kAccept:
      return Accept(held, std::move(request));
    case CallOp::kDecline:
      if (Refused(request, call.Decline(request.from.user, now, signals))) return;
      Ack(request, &held, CallTrack::kNone);
      break;
    case CallOp::kCancel:
      if (Refused(request, call.Cancel(request.from, now, signals))) return;
      Ack(request, &held, CallTrack::kOut);
      break;
    case CallOp::kHangUp:
      if (!HangUp(held, request, now, signals)) return;
      break;
    case CallOp::kRejoin:
      return Rejoin(held, std::move(request));
    case CallOp::kSignal:
      return Signal(held, request);
    case CallOp::kRinging:
      return TellRinging(held, request);
    case CallOp::kDropped:
      call.Dropped(request.from, now, signals);
      break;
    case CallOp::kBlocked:
      // Blocks part a 1:1 only: a group's members may block each other and still meet there.
      if (call.group() || !call.Involves(request.from.user) || !call.Involves(request.to.user)) {
        return;
      }
      call.EndBy(CallEndReason::kBlocked, now, signals);
      break;
  }
  Settle(held, signals);
}

bool CallRegistry::Refused(const CallRequest& request, Call::Refusal refusal) {
  switch (refusal) {
    case Call::Refusal::kNone:
      return false;
    case Call::Refusal::kFull:
      Refuse(request, "too_many", "the call has --call-max-participants devices already");
      return true;
    case Call::Refusal::kNotCaller:
      Refuse(request, "forbidden", "only the caller cancels a call");
      return true;
    case Call::Refusal::kAnswered:
      Refuse(request, "conflict", "the call was answered: hang up instead");
      return true;
    default:
      Refuse(request, "not_found", "no such call (it is over, or not for this device)");
      return true;
  }
}

bool CallRegistry::HangUp(Held& held, const CallRequest& request, int64_t now,
                          std::vector<CallSignal>& signals) {
  Call& call = *held.call;
  // Hanging up is what a client's one red button does: before an answer it cancels (the
  // caller) or declines (a ringing callee).
  const auto present = call.present_devices();
  const bool in_call = std::find(present.begin(), present.end(), request.from) != present.end();
  const Call::Refusal refusal = in_call || !call.ringing(request.from.user)
                                    ? call.HangUp(request.from, now, signals)
                                    : call.Decline(request.from.user, now, signals);
  if (Refused(request, refusal)) return false;
  Ack(request, &held, CallTrack::kOut);
  // Out of a group call that goes on: free for another one.
  if (call.group() && !call.ended() && !call.HasPresentDevice(request.from.user)) {
    ForgetMember(held, request.from.user);
  }
  return true;
}

void CallRegistry::Rejoin(Held& held, CallRequest request) {
  if (Refused(request, held.call->MayRejoin(request.from))) return;
  CheckMember(held, std::move(request), [](CallRegistry& self, Held& held, CallRequest request) {
    std::vector<CallSignal> signals;
    if (held.call->Rejoin(request.from, self.service_.clock().MonotonicMs(), signals) !=
        Call::Refusal::kNone) {
      return self.Refuse(request, "not_found", "no such call (it is over, or not for you)");
    }
    self.NoteNode(held, request);
    self.Ack(request, &held, CallTrack::kIn);
    self.Settle(held, signals);
  });
}

void CallRegistry::Invite(CallRequest request) {
  std::string id =
      MakeCallId(random_(), shard_.id(), service_.cluster() ? service_.cluster()->node_id() : "");
  const int64_t conv = request.conv, caller = request.from.user;
  service_.store().FindCallPeers(
      conv, caller, service_.config().call_ring_max,
      service_.ReplyOn<storage::CallPeers>(
          shard_.id(), [request = std::move(request), id = std::move(id)](
                           ChatShard& chat, storage::Result<storage::CallPeers> peers) mutable {
            CallRegistry& self = chat.calls();
            if (!peers.ok()) return self.Refuse(request, "unavailable", "storage unavailable");
            if (peers->denial != storage::Denial::kNone) {
              return self.Refuse(request, "forbidden",
                                 "not a member of this conversation, or blocked");
            }
            if (peers->others.empty()) {
              return self.Refuse(request, "bad_request", "nobody else is in this conversation");
            }
            std::vector<std::string> keys = {ConvKey(request.conv), UserKey(request.from.user)};
            if (!peers->group) keys.push_back(UserKey(peers->others.front()));
            self.Reserve(
                keys, id,
                [request = std::move(request), peers = std::move(*peers), id, keys](
                    CallRegistry& self, Verdict verdict, const std::string& busy_key,
                    const std::string& busy_call) mutable {
                  if (verdict == Verdict::kUnavailable) {
                    return self.Refuse(request, "unavailable",
                                       "cannot tell who is in a call now; try again");
                  }
                  if (verdict == Verdict::kBusy) {
                    const bool conv_busy = busy_key.starts_with("conv:");
                    return self.Refuse(request, "busy",
                                       conv_busy ? "a call is going on in this conversation"
                                       : busy_key == UserKey(request.from.user)
                                           ? "you are in another call"
                                           : "the other member is in another call",
                                       conv_busy && peers.group ? std::string_view(busy_call)
                                                                : std::string_view());
                  }
                  self.StartCall(std::move(request), peers, std::move(id), std::move(keys));
                });
          }));
}

void CallRegistry::StartCall(CallRequest request, const storage::CallPeers& peers, std::string id,
                             std::vector<std::string> keys) {
  auto held = std::make_unique<Held>();
  held->id = id;
  held->keys = std::move(keys);
  held->started_wall_ms = service_.clock().WallMs();
  std::vector<CallSignal> signals;
  held->call =
      std::make_unique<Call>(random_(), request.conv, request.kind, peers.group, request.from,
                             peers.others, service_.clock().MonotonicMs(), options_, signals);
  Held& ref = *held;
  calls_.emplace(std::move(id), std::move(held));
  Ack(request, &ref, CallTrack::kIn);
  Settle(ref, signals);
}

void CallRegistry::CheckMember(const Held& held, CallRequest request, Checked then) {
  const int64_t conv = held.call->conv(), user = request.from.user;
  service_.store().FindCallPeers(
      conv, user, 0,
      service_.ReplyOn<storage::CallPeers>(
          shard_.id(), [request = std::move(request), then = std::move(then)](
                           ChatShard& chat, storage::Result<storage::CallPeers> peers) mutable {
            CallRegistry& self = chat.calls();
            if (!peers.ok()) return self.Refuse(request, "unavailable", "storage unavailable");
            auto found = self.calls_.find(request.call);
            if (found == self.calls_.end()) {
              return self.Refuse(request, "not_found", "no such call (it is over)");
            }
            Held& held = *found->second;
            if (peers->denial != storage::Denial::kNone ||
                held.removed.contains(request.from.user)) {
              return self.Refuse(request, "forbidden",
                                 "not a member of this conversation any more, or blocked");
            }
            then(self, held, std::move(request));
          }));
}

void CallRegistry::Accept(Held& held, CallRequest request) {
  if (Call::Refusal refusal = held.call->MayAccept(request.from); refusal != Call::Refusal::kNone) {
    return RefuseJoin(request, refusal);
  }
  CheckMember(held, std::move(request), [](CallRegistry& self, Held& held, CallRequest request) {
    const std::string key = UserKey(request.from.user);
    if (std::find(held.keys.begin(), held.keys.end(), key) != held.keys.end()) {
      return self.Join(held, request, false);  // Reserved with the invite (a 1:1's callee).
    }
    // A group call's member: in no other call first.
    self.Reserve({key}, held.id,
                 [request = std::move(request), key](CallRegistry& self, Verdict verdict,
                                                     const std::string&, const std::string&) {
                   auto found = self.calls_.find(request.call);
                   if (verdict == Verdict::kReserved && found == self.calls_.end()) {
                     self.Release({key}, request.call);
                   }
                   if (found == self.calls_.end()) {
                     return self.Refuse(request, "not_found", "no such call (it is over)");
                   }
                   if (verdict == Verdict::kUnavailable) {
                     return self.Refuse(request, "unavailable",
                                        "cannot tell who is in a call now; try again");
                   }
                   if (verdict == Verdict::kBusy) {
                     return self.Refuse(request, "busy", "you are in another call");
                   }
                   Held& held = *found->second;
                   held.keys.push_back(key);
                   self.Join(held, request, true);
                 });
  });
}

void CallRegistry::RefuseJoin(const CallRequest& request, Call::Refusal refusal) {
  refusal == Call::Refusal::kFull
      ? Refuse(request, "too_many", "the call has --call-max-participants devices already")
      : Refuse(request, "not_found", "no such call (it is over, or not for you)");
}

void CallRegistry::Join(Held& held, const CallRequest& request, bool reserved_now) {
  std::vector<CallSignal> signals;
  const Call::Refusal refusal =
      held.call->Accept(request.from, service_.clock().MonotonicMs(), signals);
  if (refusal != Call::Refusal::kNone) {
    if (reserved_now) ForgetMember(held, request.from.user);
    return RefuseJoin(request, refusal);
  }
  NoteNode(held, request);
  Ack(request, &held, CallTrack::kIn);
  Settle(held, signals);
}

void CallRegistry::NoteNode(Held& held, const CallRequest& request) {
  if (request.node.empty()) return;
  std::erase_if(held.remote, [&](const auto& entry) {
    return entry.first.user == request.from.user;  // A rejoin replaces the dropped device.
  });
  held.remote.emplace_back(request.from, request.node);
}

void CallRegistry::OnNodeDead(std::string_view node) {
  const int64_t now = service_.clock().MonotonicMs();
  std::vector<Held*> affected;
  for (auto& [id, held] : calls_) affected.push_back(held.get());
  for (Held* held : affected) {
    std::vector<CallSignal> signals;
    for (const auto& [device, on] : held->remote) {
      if (on == node) held->call->Dropped(device, now, signals);
    }
    Settle(*held, signals);
  }
}

void CallRegistry::OnMembersRemoved(int64_t conv, const std::vector<int64_t>& users) {
  if (users.empty()) return;
  std::vector<Held*> affected;
  for (auto& [id, held] : calls_) {
    if (held->call->conv() == conv) affected.push_back(held.get());
  }
  const int64_t now = service_.clock().MonotonicMs();
  for (Held* held : affected) {
    std::vector<CallSignal> signals;
    for (int64_t user : users) {
      held->removed.insert(user);
      held->call->Remove(user, now, signals);
      if (!held->call->ended()) ForgetMember(*held, user);
    }
    Settle(*held, signals);  // May erase it.
  }
}

void CallRegistry::EndBlockedCall(ChatService& service, uint32_t here, int64_t blocker,
                                  int64_t blocked) {
  // Each member of a 1:1 call holds a busy mark that names it, and so its holder.
  auto end = [blocker, blocked](ChatShard& chat, std::string call) {
    if (call.empty()) return;
    CallLink link(chat.service());
    (void)link.Send(CallRequest{.op = CallOp::kBlocked,
                                .from = CallDevice{blocker, 0},
                                .call = std::move(call),
                                .to = CallDevice{blocked, 0}});
  };
  const std::string key = UserKey(blocker);
  if (ClusterCalls* cluster = service.cluster_calls()) {
    cluster->Find(key, [&service, here, end](std::string call) {
      service.PostOrHold(here, [end, call = std::move(call)](ChatShard& chat) mutable {
        end(chat, std::move(call));
      });
    });
    return;
  }
  service.PostOrHold(0,
                     [key, end](ChatShard& table) { end(table, table.calls().HolderHere(key)); });
}

std::string CallRegistry::HolderHere(const std::string& key) const {
  auto it = busy_.find(key);
  return it == busy_.end() ? std::string() : it->second;
}

void CallRegistry::ForgetMember(Held& held, int64_t user) {
  const std::string key = UserKey(user);
  auto it = std::find(held.keys.begin(), held.keys.end(), key);
  if (it == held.keys.end()) return;
  Release({key}, held.id);
  held.keys.erase(it);
}

void CallRegistry::Finish(Held& held) {
  ++metrics_.calls_ended[CallOutcomeName(held.call->outcome())];
  Release(held.keys, held.id);
  AppendRecord(held);
  calls_.erase(held.id);  // `held` is gone.
}

// The record: a message of kind `call` from the caller (proto/PROTOCOL.md, "Records"), appended
// and handed on as a change over HTTP is (ChatService::HandOff), and the call.ended job.
void CallRegistry::AppendRecord(const Held& held) {
  const Call& call = *held.call;
  // Call's times are monotonic; the record's are wall-clock, reckoned back from now.
  const int64_t now_wall = service_.clock().WallMs();
  const int64_t now_mono = service_.clock().MonotonicMs();
  auto wall = [&](int64_t mono) { return now_wall - (now_mono - mono); };
  auto fields = [&](JsonWriter& writer) -> JsonWriter& {
    writer.Field("call", held.id)
        .Field("call_kind", CallKindName(call.kind()))
        .Field("outcome", CallOutcomeName(call.outcome()))
        .Field("started_at", held.started_wall_ms);
    if (call.answered_at()) writer.Field("answered_at", wall(*call.answered_at()));
    writer.Field("ended_at", wall(call.ended_at().value_or(now_mono)))
        .Field("duration_ms", call.duration_ms());
    if (call.end_reason() != CallEndReason::kNone) {
      writer.Field("reason", CallEndReasonName(call.end_reason()));
    }
    writer.Key("participants").BeginArray();
    for (int64_t user : call.joined_users()) writer.Int(user);
    return writer.EndArray();
  };
  if (notify::JobPublisher* jobs = service_.jobs()) {
    JsonWriter job;
    job.BeginObject().Field("type", "call").Field("conv", call.conv());
    jobs->Publish("call.ended", fields(job).EndObject().Take());
  }
  JsonWriter body;
  body.BeginObject();
  std::string record = fields(body).EndObject().Take();
  storage::NewMessage message{.conv = call.conv(),
                              .sender = call.caller().user,
                              .cid = "call:" + held.id,
                              .kind = std::string(storage::kCallKind),
                              .body = std::move(record),
                              .ts = now_wall};
  const std::string id = held.id;
  service_.store().Append(
      std::move(message),
      service_.ReplyOn<storage::AppendOutcome>(
          shard_.id(), [id](ChatShard& chat, storage::Result<storage::AppendOutcome> result) {
            if (!result.ok() || result->denial != storage::Denial::kNone) {
              // The store is away, or the conversation is gone (a record is taken whatever
              // else changed since the call began: a block, a removal): the call's devices have
              // had call_ended; only the entry in the history is missing.
              RC_LOG(kWarn, "the record of call %s was not stored: %s", id.c_str(),
                     result.ok() ? "no such conversation" : result.status().message().c_str());
              return;
            }
            chat.service().HandOffCommitted(*result);
          }));
}

void CallRegistry::OnTick(int64_t now_ms) {
  std::vector<Held*> due;
  for (auto& [id, held] : calls_) {
    auto deadline = held->call->NextDeadline();
    if (deadline && *deadline <= now_ms) due.push_back(held.get());
  }
  for (Held* held : due) {
    std::vector<CallSignal> signals;
    held->call->Tick(now_ms, signals);
    Settle(*held, signals);  // May erase it.
  }
  if (ClusterCalls* cluster = service_.cluster_calls(); cluster && now_ms >= next_refresh_ms_) {
    next_refresh_ms_ = now_ms + ClusterCalls::kRefreshMs;
    for (auto& [id, held] : calls_) cluster->Refresh(held->keys, id);
  }
}

std::optional<std::pair<std::string, std::string>> CallRegistry::ReserveHere(
    const std::vector<std::string>& keys, const std::string& call) {
  for (const std::string& key : keys) {
    auto it = busy_.find(key);
    if (it != busy_.end() && it->second != call) return std::pair(key, it->second);
  }
  for (const std::string& key : keys) busy_[key] = call;
  return std::nullopt;
}

void CallRegistry::ReleaseHere(const std::vector<std::string>& keys, const std::string& call) {
  for (const std::string& key : keys) {
    auto it = busy_.find(key);
    if (it != busy_.end() && it->second == call) busy_.erase(it);
  }
}

void CallRegistry::Reserve(std::vector<std::string> keys, const std::string& call, Reserved then) {
  const uint32_t here = shard_.id();
  ChatService& service = service_;
  if (ClusterCalls* cluster = service_.cluster_calls()) {
    cluster->Reserve(std::move(keys), call,
                     [&service, here, then = std::move(then)](ClusterCalls::Answer answer) mutable {
                       service.PostOrHold(here, [then = std::move(then),
                                                 answer = std::move(answer)](ChatShard& chat) {
                         const Verdict verdict = answer.unavailable        ? Verdict::kUnavailable
                                                 : answer.busy_key.empty() ? Verdict::kReserved
                                                                           : Verdict::kBusy;
                         then(chat.calls(), verdict, answer.busy_key, answer.busy_call);
                       });
                     });
    return;
  }
  service_.PostOrHold(0, [&service, here, keys = std::move(keys), call,
                          then = std::move(then)](ChatShard& table) mutable {
    auto busy = table.calls().ReserveHere(keys, call);
    service.PostOrHold(here, [busy = std::move(busy), then = std::move(then)](ChatShard& chat) {
      if (busy) return then(chat.calls(), Verdict::kBusy, busy->first, busy->second);
      then(chat.calls(), Verdict::kReserved, {}, {});
    });
  });
}

void CallRegistry::Release(const std::vector<std::string>& keys, const std::string& call) {
  if (keys.empty()) return;
  if (ClusterCalls* cluster = service_.cluster_calls()) return cluster->Release(keys, call);
  service_.PostOrHold(0, [keys, call](ChatShard& table) { table.calls().ReleaseHere(keys, call); });
}

}  // namespace ringcast::chat
