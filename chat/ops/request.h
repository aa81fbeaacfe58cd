// The typed requests of the chat protocol's operations (proto/PROTOCOL.md, "The chat service"):
// one struct per operation or family, filled by that operation's parser (chat/ops/*_ops.cc) and
// read by its action. `Request` holds any one of them, so that a session parses without
// allocating a request per message. Comparable, for the tests and fuzzers that read one twice.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "chat/calls/call_mail.h"
#include "storage/chat_store.h"

namespace ringcast::chat::ops {

// send, and the changes sent and acked as messages: edit, delete, react, pin, unpin.
struct MessageRequest {
  int64_t conv = 0;
  std::string kind;  // The message's kind: the client's for a send, the server's for a change.
  std::string body;  // A send's or an edit's text; a reaction's emoji.
  std::vector<int64_t> mentions;         // send, edit: explicit mentions (user ids).
  std::vector<std::string> attachments;  // send: upload ids (proto/PROTOCOL.md, "Files").
  int64_t target = 0;                    // A change: the seq of the message it changes.
  bool reaction_on = true;               // react: add (true) or take away the emoji.
  int64_t reply_to = 0;                  // send: the seq of the message answered (0: none).
  bool thread = false;                   // send: the reply joins its parent's thread.
  friend bool operator==(const MessageRequest&, const MessageRequest&) = default;
};

// delivered, read.
struct WatermarkRequest {
  int64_t conv = 0;
  int64_t seq = 0;
  bool read = false;
  friend bool operator==(const WatermarkRequest&, const WatermarkRequest&) = default;
};

struct SyncRequest {
  std::vector<storage::SyncAsk> asks;  // With "convs".
  bool all = false;                    // Without "convs": every conversation.
  friend bool operator==(const SyncRequest&, const SyncRequest&) = default;
};

// The paging fields history and thread share.
struct PageAsk {
  int64_t before = 0;  // 0: newest.
  int64_t seen = 0;    // storage's History `seen`.
  uint32_t limit = 50;
  friend bool operator==(const PageAsk&, const PageAsk&) = default;
};

struct HistoryRequest {
  int64_t conv = 0;
  PageAsk page;
  friend bool operator==(const HistoryRequest&, const HistoryRequest&) = default;
};

struct ThreadRequest {
  int64_t conv = 0;
  int64_t root = 0;  // The seq of the thread's root.
  PageAsk page;
  friend bool operator==(const ThreadRequest&, const ThreadRequest&) = default;
};

struct ThreadReadRequest {
  int64_t conv = 0;
  int64_t root = 0;
  int64_t seq = 0;
  friend bool operator==(const ThreadReadRequest&, const ThreadReadRequest&) = default;
};

struct TypingRequest {
  int64_t conv = 0;
  bool start = false;
  friend bool operator==(const TypingRequest&, const TypingRequest&) = default;
};

// star: the user's own mark on a message (proto/PROTOCOL.md, "Stars").
struct StarRequest {
  int64_t conv = 0;
  int64_t seq = 0;
  bool on = true;  // Star (true) or unstar.
  friend bool operator==(const StarRequest&, const StarRequest&) = default;
};

// stars: a page of the user's starred messages; page.before is a message id (seen unused).
struct StarsRequest {
  PageAsk page;
  friend bool operator==(const StarsRequest&, const StarsRequest&) = default;
};

struct PingRequest {
  friend bool operator==(const PingRequest&, const PingRequest&) = default;
};

struct AuthRequest {
  std::string token;  // A new access token for this connection.
  friend bool operator==(const AuthRequest&, const AuthRequest&) = default;
};

// call_*: what the session adds (`from`, `cid`, `node`) is filled where it runs.
using Request = std::variant<PingRequest, MessageRequest, WatermarkRequest, SyncRequest,
                             HistoryRequest, ThreadRequest, ThreadReadRequest, TypingRequest,
                             AuthRequest, CallRequest, StarRequest, StarsRequest>;

}  // namespace ringcast::chat::ops
