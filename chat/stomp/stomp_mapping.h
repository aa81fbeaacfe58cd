// How STOMP maps onto the chat protocol (proto/PROTOCOL.md, "STOMP 1.2 over WebSocket"): the
// destinations a client may SEND to and SUBSCRIBE to, the chat request a SEND becomes, and which
// destination a chat event goes to.
//
// Pure code: no connection, no session. The StompGateway and the StompTransport (its callers)
// own everything that has state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proto/stomp_frame.h"

namespace ringcast::chat::stomp_map {

// --- SEND ---------------------------------------------------------------------------------------

// Which operation a SEND's destination names, and the request it stands for, are the
// operation's own (chat/ops/wire.h: Wire::stomp_destination and from_stomp). What they
// read of a frame:
// The conversation a frame names (`conversation`, or `conv` for short); nullopt with *error set.
std::optional<int64_t> ConversationHeader(const stomp::Frame& frame, std::string* error);
// An optional non-negative integer header: absent → nullopt with no error; malformed → nullopt
// with *error set.
std::optional<int64_t> CountHeader(const stomp::Frame& frame, std::string_view name,
                                   std::string* error);

// The token a CONNECT (or a SEND to /app/chat.auth) carries: `passcode`, or an
// `Authorization: Bearer <token>` header (browsers cannot set headers on the WebSocket upgrade).
std::optional<std::string_view> TokenOf(const stomp::Frame& frame);

// --- SUBSCRIBE ----------------------------------------------------------------------------------

// The personal queues (/user/queue/<name>) and what each selects of the session's events.
enum class Queue : uint8_t {
  kEvents,    // Every event that is not a conversation's (below).
  kAcks,      // ack
  kErrors,    // error
  kPresence,  // presence, profile
};
inline constexpr size_t kQueues = 4;

struct Subscribable {
  bool topic = false;  // /topic/conversation.{conv}
  int64_t conv = 0;
  Queue queue = Queue::kEvents;
};
std::optional<Subscribable> ParseSubscribable(std::string_view destination);
std::string TopicOf(int64_t conv);  // "/topic/conversation.<conv>"
std::string_view QueueDestination(Queue queue);

// --- Chat events --------------------------------------------------------------------------------

// What routing needs of a chat event the server encoded (JsonWriter's output, "type" first).
struct EventHead {
  std::string_view type;
  // A conversation's event (message, receipt, typing: its topic's); 0 for the personal ones.
  int64_t conv = 0;
  // An ack's or error's "cid", as it stands between its quotes in the JSON (still escaped).
  std::string_view cid_json;
  bool has_cid = false;
};
// Reads only the top level, and stops once it has what the type needs. An event that is not a
// JSON object with a string "type" first comes back with an empty type (a personal event).
EventHead ScanEvent(std::string_view json);
// An error event's "code: message", for an ERROR frame (a cold path: read with simdjson).
std::string ErrorText(std::string_view error_json);
// `cid` as ScanEvent finds it in an event (JSON-escaped, without its quotes).
std::string CidAsJson(std::string_view cid);
// Whether `queue` takes a personal event of `type`.
bool QueueTakes(Queue queue, std::string_view type);

// "a,b" → {a, b}: a heart-beat header (spec, "Heart-beating"); nullopt when malformed.
std::optional<std::pair<uint32_t, uint32_t>> ParseHeartBeat(std::string_view value);

}  // namespace ringcast::chat::stomp_map
