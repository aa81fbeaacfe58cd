// What each operation of the chat protocol does (chat/ops/README.md): its authorization and its
// action, for the session that sent it, on the session's shard. The request arrives parsed by the
// operation's wire (wire.h), whatever transport carried it.
#pragma once

#include <span>
#include <string_view>

#include "chat/ops/request.h"
#include "chat/ops/wire.h"

namespace ringcast::chat {
class SessionHost;
struct Session;
}  // namespace ringcast::chat

namespace ringcast::chat::ops {

// What an action runs with: the host of the session that asked, that session, and the request's
// "cid" (empty without one; for the operations that need one, checked by their parser).
struct OpCall {
  SessionHost& host;
  Session& session;
  std::string_view cid;
};

using Action = void (*)(OpCall call, Request& request);
struct ActionRow {
  std::string_view type;  // The wire's.
  Action run;
};

// The action of `wire`'s operation. Every wire has exactly one: the table is checked when it is
// built (at the first request), and the registry's unit test walks it.
Action ActionOf(const Wire& wire);
// The actions whose wire is missing, and the wires without an action (both empty in a sound
// build), for that test.
std::string RegistryFaults();

// The families' actions (<family>_ops.cc).
std::span<const ActionRow> MessageActions();
std::span<const ActionRow> ReceiptActions();
std::span<const ActionRow> HistoryActions();
std::span<const ActionRow> ThreadActions();
std::span<const ActionRow> SessionActions();
std::span<const ActionRow> CallActions();

}  // namespace ringcast::chat::ops
