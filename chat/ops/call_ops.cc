// Calls' signalling (proto/PROTOCOL.md, "Calls: signalling"; docs/calls.md): every call_* request
// goes to the shard that holds the call through the session's CallLink, which answers with
// call_ack or an error carrying the cid. Not over STOMP.
// Its requests as read off the wire: chat/ops/call_wire.cc.
#include "chat/ops/op_support.h"

namespace ringcast::chat::ops {
namespace {

void RunCall(OpCall call, Request& request) {
  CallRequest& ask = std::get<CallRequest>(request);
  if (ask.op == CallOp::kInvite && !CheckMember(call, ask.conv, call.cid)) return;
  ask.from = CallDevice{call.session.user, call.session.device};
  ask.cid = call.cid;
  if (!call.host.calls().Send(std::move(ask))) {
    call.host.SendError(call.session, "not_found", "no such call", call.cid);
  }
}

constexpr ActionRow kActions[] = {
    {"call_invite", RunCall}, {"call_accept", RunCall}, {"call_decline", RunCall},
    {"call_cancel", RunCall}, {"call_hangup", RunCall}, {"call_rejoin", RunCall},
    {"call_signal", RunCall},
};

}  // namespace

std::span<const ActionRow> CallActions() { return kActions; }

}  // namespace ringcast::chat::ops
