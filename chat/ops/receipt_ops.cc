// What a member tells the others of a conversation without writing a message (proto/PROTOCOL.md,
// "Receipts" and "Typing"): its delivered and read watermarks, which its owner commits and
// publishes, and typing, which the owner relays and forgets.
// Its requests as read off the wire: chat/ops/receipt_wire.cc.
#include "chat/ops/op_support.h"

namespace ringcast::chat::ops {
namespace {

void RunWatermark(OpCall call, Request& request) {
  const WatermarkRequest& mark = std::get<WatermarkRequest>(request);
  if (!CheckMember(call, mark.conv)) return;
  if (!call.host.conversations().Watermark(call.session.id, mark.conv, call.session.user, mark.read,
                                           mark.seq)) {
    call.host.SendError(call.session, "unavailable", "server busy, retry");
  }
}

void RunTyping(OpCall call, Request& request) {
  const TypingRequest& typing = std::get<TypingRequest>(request);
  if (!CheckMember(call, typing.conv)) return;
  call.host.conversations().Typing(typing.conv, call.session.user, typing.start);
}

constexpr ActionRow kActions[] = {
    {"delivered", RunWatermark},
    {"read", RunWatermark},
    {"typing", RunTyping},
};

}  // namespace

std::span<const ActionRow> ReceiptActions() { return kActions; }

}  // namespace ringcast::chat::ops
