// The chat scenario's pure parts: the stamp each message carries, the send request, the parsing
// of the server's events and HTTP answers, and which user is in which group. No I/O, so the
// unit tests cover them without a server.
//
// The server's chat protocol is proto/PROTOCOL.md ("The chat service"). The tool only relies on
// what it promises: `ack` echoes the `cid`, `message` carries the `body` as sent, and every
// connection gets a conversation's messages in `seq` order, 1, 2, 3 ... without gaps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast::bench {

// --- stamp ----------------------------------------------------------------------------------
// "<publisher>.<sequence>.<intended ns>.<step><m|w>", decimal; `m` when the intended time falls
// inside the step's measurement window, `w` (warmup) otherwise. It is the message's cid (unique
// per sender, as the protocol wants, since a publisher is one user in one group) and the start
// of its body, so both the ack and every delivery say which message they are and when it was
// meant to be sent. Never longer than kChatStampMax, the protocol's cid limit.
inline constexpr size_t kChatStampMax = 64;

struct ChatStamp {
  uint32_t publisher = 0;
  uint64_t sequence = 0;  // Per publisher, from 0, over all steps.
  int64_t intended_ns = 0;
  uint16_t step = 0;
  bool measured = false;
};

// Writes the stamp to `out` (room for kChatStampMax) and returns its length.
size_t WriteChatStamp(char* out, const ChatStamp& stamp);
// Accepts a cid, or a body: the stamp then ends at the first space.
bool ReadChatStamp(std::string_view text, ChatStamp* stamp);

// {"type":"send","conv":C,"cid":"<stamp>","body":"<stamp> xxx..."} with a body of exactly
// `body_bytes` (>= kChatStampMax), appended to *out. Stamps need no JSON escaping.
void AppendChatSend(std::string* out, uint64_t conv, const ChatStamp& stamp, size_t body_bytes);

// --- server events --------------------------------------------------------------------------
enum class ChatEventType : uint8_t { kOther, kHello, kAck, kMessage, kError };

// The fields the tool reads; the views point into the parser and are valid until its next
// Parse. Numbers absent from the event stay 0, strings empty.
struct ChatEvent {
  ChatEventType type = ChatEventType::kOther;
  std::string_view type_name;
  uint64_t conv = 0;
  uint64_t id = 0;
  uint64_t seq = 0;
  uint64_t from = 0;
  uint64_t user = 0;  // hello
  std::string_view cid;
  std::string_view body;
  std::string_view code;     // error
  std::string_view message;  // error
};

// One per worker thread (it keeps simdjson's buffers between events).
class ChatEventParser {
 public:
  ChatEventParser();
  ~ChatEventParser();
  ChatEventParser(const ChatEventParser&) = delete;
  ChatEventParser& operator=(const ChatEventParser&) = delete;

  // False with *error when the text is not a JSON object with a string "type", or a field the
  // tool reads has the wrong type.
  bool Parse(std::span<const uint8_t> text, ChatEvent* event, std::string* error);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A top-level member of a JSON object (the setup's HTTP answers); false when absent, of another
// type, or the text is not an object.
bool JsonObjectUint(std::string_view json, std::string_view key, uint64_t* value);
bool JsonObjectString(std::string_view json, std::string_view key, std::string* value);

// --- HTTP answers (setup) -------------------------------------------------------------------
struct HttpAnswer {
  int status = 0;
  std::string body;
  uint32_t retry_after_s = 0;
  bool close = false;  // Connection: close (or HTTP/1.0 without keep-alive).
};
enum class HttpParse : uint8_t { kNeedMore, kOk, kError };
// One response at the start of `input`; the body must be framed by Content-Length (the server
// never chunks). kOk sets *consumed to the response's length.
HttpParse ParseHttpAnswer(std::string_view input, HttpAnswer* answer, size_t* consumed,
                          std::string* error);

// --- who is in which group ------------------------------------------------------------------
// Group g's members are users (g*S + j) mod U for j = 0 .. S-1 (distinct while S <= U), member 0
// creates it. Round-robin, so every user is in floor or ceil of G*S/U groups. Publisher
// g*S + j is member j sending into group g.
struct ChatLayout {
  uint32_t users = 0;
  uint32_t groups = 0;
  uint32_t group_size = 0;

  uint32_t Member(uint32_t group, uint32_t j) const {
    return static_cast<uint32_t>((uint64_t{group} * group_size + j) % users);
  }
  uint32_t publishers() const { return groups * group_size; }
  uint32_t PublisherUser(uint32_t publisher) const {
    return Member(publisher / group_size, publisher % group_size);
  }
  uint32_t PublisherGroup(uint32_t publisher) const { return publisher / group_size; }
  // Per user, the groups it is in, ascending.
  std::vector<std::vector<uint32_t>> GroupsOfUsers() const;
};

}  // namespace ringcast::bench
