// The chat protocol's operations as every transport carries them (chat/ops/README.md): a /ws text
// message, a line of an SSE or long-poll POST and a STOMP SEND all become a request that
// RequestReader reads by its operation's parser. Pure code (no session, no store): the fuzzers
// run it as the server does. What a request does is its operation's action (actions.h).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "chat/ops/request.h"
#include "chat/ops/request_reader.h"
#include "proto/stomp_frame.h"

namespace ringcast::chat::ops {

struct Wire {
  // The request's "type".
  std::string_view type;
  // Fills the request (emplacing its own type in the variant) from the fields RequestReader
  // reads; false with the reader's error set.
  bool (*parse)(RequestReader& reader, Request* request);
  // STOMP (proto/PROTOCOL.md, "STOMP 1.2 over WebSocket"): the destination a SEND names for it,
  // and the request's JSON a SEND frame stands for (nullopt with *error set: a header or the body
  // missing or malformed), which then goes the way of every request. Empty and null: not over
  // STOMP.
  std::string_view stomp_destination;
  std::optional<std::string> (*from_stomp)(const stomp::Frame& frame, std::string_view cid,
                                           std::string* error) = nullptr;
};

// Every operation's wire, in registry order (wire_registry.cc).
std::span<const Wire> Wires();
// By the request's "type" / a STOMP SEND's destination; nullptr when there is none.
const Wire* FindWire(std::string_view type);
const Wire* FindStompWire(std::string_view destination);

// The families, one pair of files each: <family>_wire.cc here, <family>_ops.cc its actions.
std::span<const Wire> MessageWires();  // send, edit, delete, react, pin, unpin
std::span<const Wire> ReceiptWires();  // delivered, read, typing
std::span<const Wire> HistoryWires();  // sync, history
std::span<const Wire> ThreadWires();   // thread, thread_read
std::span<const Wire> SessionWires();  // ping, auth
std::span<const Wire> CallWires();     // call_*

}  // namespace ringcast::chat::ops
