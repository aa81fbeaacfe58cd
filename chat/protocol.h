// The chat wire protocol (proto/PROTOCOL.md, "The chat service"): client requests parsed with
// simdjson On Demand, server events written with JsonWriter. Pure code: no shards, no store.
//
// The requests' parsers and actions are the operations' (chat/ops/); this file has the
// limits they share, the HTTP bodies' parsers, and every event's encoder.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/calls/call.h"
#include "proto/json_writer.h"
#include "storage/chat_store.h"

namespace ringcast::chat {

struct RequestLimits {
  size_t max_body = 65536;
  static constexpr size_t kMaxCid = 64;
  static constexpr size_t kMaxKind = 32;
  static constexpr uint32_t kMaxHistory = 200;
  static constexpr size_t kMaxSyncConvs = 1000;
  // Files one message may carry (proto/PROTOCOL.md, "Files").
  static constexpr size_t kMaxAttachments = 10;
  // A call_signal's payload, as written anew (an SDP offer or answer is a few KiB; ICE
  // candidates far less). Its depth and values: calls/signal_payload.h.
  static constexpr size_t kMaxCallSignal = 64 * 1024;
  // A call's id as clients echo it (calls/call_id.h makes them far shorter).
  static constexpr size_t kMaxCallId = 128;
  // A request's JSON text besides its body: every other field at its bound (a call_signal's
  // 64 KiB, a sync's 1,000 conversations at 43 bytes each, a token's 4 KiB...), with room left.
  static constexpr size_t kMaxEnvelope = 128 * 1024;

  // The longest request a session can accept, bytes of JSON text: a body of max_body bytes, each
  // written as \u00XX (six bytes, the most JSON spends on one byte), and the envelope. A longer
  // one cannot parse into a request the session would take: the /ws route inflates a compressed
  // message no further (ChatShard::MaxMessageSize).
  size_t max_request_bytes() const { return 6 * max_body + kMaxEnvelope; }
};

// A refused request: `message` names the fault for the client; the request's cid is echoed
// whenever the request carried one, even an invalid one (empty, too long, a number), so that a
// client can tell which of its requests failed.
struct RequestError {
  std::string message;
  std::string cid;       // The cid when it was a string (any length), for other errors to echo.
  std::string cid_json;  // JSON text for the error's "cid": the string, or the number as sent;
                         // empty when the request had no cid that can be echoed.
};

// A username: 1 to kMaxUsername of A-Z a-z 0-9 _ . - (compared ignoring ASCII case).
inline constexpr size_t kMaxUsername = 32;
bool ValidUsername(std::string_view name);

// HTTP bodies.
struct Credentials {
  std::string username;
  std::string password;
};
struct NewConversation {
  std::vector<int64_t> members;
  std::optional<std::string> name;
  bool group = true;
};
// Each returns an error message, or nullopt with *out filled. A known field given twice is an
// error ("duplicate field"); unknown fields are ignored. A body that is not a JSON object is
// refused with JsonBodyFault's reason.
// Why `body`, refused by a JSON parser, is not a JSON object, in words a client can act on:
// empty, a byte order mark (RFC 8259 §8.1 forbids one), not UTF-8 (with the byte offset), cut
// off before its last value ends, valid JSON of another type, or else "not valid JSON". Error
// path only: it rescans the body.
std::string JsonBodyFault(std::string_view body);
std::optional<std::string> ParseCredentials(std::string_view body, Credentials* out);
// POST /api/token/refresh and POST /api/logout: {"refresh_token": "..."} (non-empty).
std::optional<std::string> ParseRefreshToken(std::string_view body, std::string* out);
std::optional<std::string> ParseNewConversation(std::string_view body, NewConversation* out);
std::optional<std::string> ParseMemberList(std::string_view body, std::vector<int64_t>* out);
// POST /api/conversations/{id}/mute: {"until": ms} or an empty body / {} (no end: *until unset).
std::optional<std::string> ParseMute(std::string_view body, std::optional<int64_t>* until);
// PATCH and DELETE /api/conversations/{id}/messages/{seq}: an edit's {"body", "mentions"?,
// "cid"?} (body at most max_body bytes), a deletion's {"cid"?} or an empty body.
struct MessageChangeBody {
  std::string body;
  std::vector<int64_t> mentions;
  std::string cid;  // Empty: none given.
};
std::optional<std::string> ParseMessageChange(std::string_view body, bool edit, size_t max_body,
                                              MessageChangeBody* out);

// Server events. Each returns the JSON text of one frame.
// hello, a session's first event once it is ready (proto/PROTOCOL.md, "The chat service").
struct Hello {
  struct Contact {
    int64_t user = 0;
    bool online = false;
    std::optional<int64_t> last_online;
  };
  int64_t user = 0;
  std::string_view instance;  // The database's id.
  int64_t expires_at = 0;     // The session's token's exp, ms.
  uint64_t device = 0;
  std::vector<std::string_view> ringing;  // The call_ring events of the calls ringing for it.
  std::vector<Contact> presence;          // Its contacts', by user id.
};
std::string EncodeHello(const Hello& hello);
std::string EncodeMessageEvent(const storage::Message& message);
std::string EncodeAck(std::string_view cid, const storage::Message& message);
// {"type":"mention","message":{...}}: to the mentioned member's own sessions.
std::string EncodeMention(const storage::Message& message);
std::string EncodeError(std::string_view code, std::string_view message, std::string_view cid = {});
// The bad_request error for a request the parser refused, with the request's cid echoed.
std::string EncodeRequestError(const RequestError& error);
std::string EncodeReceipt(int64_t conv, int64_t user, std::optional<int64_t> delivered,
                          std::optional<int64_t> read);
std::string EncodeTyping(int64_t conv, int64_t user, bool start);
std::string EncodePresence(int64_t user, bool online, std::optional<int64_t> last_online);
std::string EncodeMembers(const storage::ConversationState& conversation);
// {"type":"reconnect","after_ms":N}: this node is draining; reconnect to any node after N ms.
std::string EncodeReconnect(uint32_t after_ms);
// Appends `messages` while the writer holds less than `max_bytes` (the first always); false if
// some were left out. How answers keep to --max-answer-bytes.
bool AppendMessagesWithin(JsonWriter& writer, const std::vector<storage::Message>& messages,
                          uint64_t max_bytes);
// {"type":"history",...}, within max_bytes as AppendMessagesWithin says (more when cut).
std::string EncodeHistory(int64_t conv, const storage::Page& page, uint64_t max_bytes);
// The answer to a `thread` request:
// {"type":"thread","conv","root","read_seq","unread","messages","more"}.
std::string EncodeThread(int64_t conv, int64_t root, const storage::ThreadPage& thread,
                         uint64_t max_bytes);
// The answer to a `thread_read` request: {"type":"thread_read","conv","root","read_seq"}.
std::string EncodeThreadRead(int64_t conv, int64_t root, int64_t read_seq);
// The JSON array a message keeps of its files, in `ids`' order (each of them in `uploads`):
// [{"id","name","size","type","sha256","url"[,"thumb_url","width","height"]}].
std::string EncodeAttachments(const std::vector<std::string>& ids,
                              const std::vector<storage::UploadRecord>& uploads);
// The fields every description of an upload carries, an attachment's and the upload routes':
// "id","name","size","type","sha256","url"[,"thumb_url"][,"width","height"].
void WriteUploadFields(JsonWriter& writer, const storage::UploadRecord& upload);
// "avatar" and "avatar_thumb": the URLs of an avatar upload and its thumbnail, or both null;
// a profile's and a group's (proto/PROTOCOL.md, "Profiles" and "Groups").
void WriteAvatar(JsonWriter& writer, const std::optional<std::string>& upload);
// A message object, the same everywhere (HTTP, message, sync, history).
void AppendMessage(JsonWriter& writer, const storage::Message& message);

}  // namespace ringcast::chat
