// libFuzzer harness for the chat protocol's request parsers (chat/protocol.h): RequestParser
// (WebSocket requests) and the HTTP body parsers, all on simdjson On Demand. The input is one
// message or body; each parser sees it as an exact-size allocation, so ASan catches a read into
// simdjson's padding that the parser did not provide itself.
//
// Invariants checked beyond "no crash, no sanitizer report":
// - an accepted request obeys the limits the rest of the service relies on (ids positive, cid
//   1-64 bytes, kind 1-32, body within max_body, history limit 1-200, at most 1000 sync
//   entries), and every string it carries is valid UTF-8 (it is echoed into JSON text frames);
// - a refusal has a message, echoes no more cid than the input held, and its error event is
//   valid UTF-8 and valid JSON (the cid it echoes comes from untrusted input);
// - the reused parser gives the same answer twice (its buffer and simdjson state carry over);
// - an accepted send, written back with JsonWriter and parsed again, gives the same fields;
// - an accepted call_signal's payload is JSON written anew, with no line break, and a fixed
//   point: sent again, it comes back the same.
#include <simdjson.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "chat/auth/jwt.h"
#include "chat/protocol.h"
#include "proto/json_writer.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using ringcast::chat::ClientRequest;
using ringcast::chat::RequestError;
using ringcast::chat::RequestLimits;
using ringcast::chat::RequestParser;
using ringcast::chat::RequestType;

bool Utf8(std::string_view s) {
  return ringcast::fuzz::ReferenceUtf8(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

bool SameRequest(const ClientRequest& a, const ClientRequest& b) {
  if (a.asks.size() != b.asks.size()) return false;
  for (size_t i = 0; i < a.asks.size(); ++i) {
    if (a.asks[i].conv != b.asks[i].conv || a.asks[i].after != b.asks[i].after) return false;
  }
  return a.type == b.type && a.conv == b.conv && a.cid == b.cid && a.kind == b.kind &&
         a.body == b.body && a.seq == b.seq && a.sync_all == b.sync_all && a.before == b.before &&
         a.limit == b.limit && a.typing == b.typing && a.token == b.token &&
         a.reply_to == b.reply_to && a.thread == b.thread && a.root == b.root && a.call == b.call &&
         a.call_kind == b.call_kind && a.to == b.to && a.signal_key == b.signal_key &&
         a.signal_json == b.signal_json;
}

void CheckAccepted(const ClientRequest& r, const RequestLimits& limits) {
  FUZZ_CHECK(Utf8(r.cid) && Utf8(r.kind) && Utf8(r.body) && Utf8(r.token));
  FUZZ_CHECK(r.seq >= 0 && r.before >= 0);
  FUZZ_CHECK(r.limit >= 1 && r.limit <= RequestLimits::kMaxHistory);
  FUZZ_CHECK(r.asks.size() <= RequestLimits::kMaxSyncConvs);
  for (const auto& ask : r.asks) FUZZ_CHECK(ask.conv > 0 && ask.after >= 0);
  switch (r.type) {
    case RequestType::kSend:
      FUZZ_CHECK(r.conv > 0);
      FUZZ_CHECK(!r.cid.empty() && r.cid.size() <= RequestLimits::kMaxCid);
      FUZZ_CHECK(!r.kind.empty() && r.kind.size() <= RequestLimits::kMaxKind);
      FUZZ_CHECK(r.body.size() <= limits.max_body);
      break;
    case RequestType::kDelivered:
    case RequestType::kRead:
    case RequestType::kHistory:
    case RequestType::kTyping:
      FUZZ_CHECK(r.conv > 0);
      break;
    case RequestType::kThread:
    case RequestType::kThreadRead:
      FUZZ_CHECK(r.conv > 0 && r.root > 0);
      break;
    case RequestType::kSync:
      FUZZ_CHECK(!r.sync_all || r.asks.empty());
      break;
    case RequestType::kPing:
      break;
    case RequestType::kAuth:
      FUZZ_CHECK(!r.token.empty() && r.token.size() <= ringcast::auth::kMaxTokenBytes);
      break;
    case RequestType::kCallInvite:
      FUZZ_CHECK(r.conv > 0 && !r.cid.empty());
      break;
    case RequestType::kCallSignal:
      FUZZ_CHECK(r.to.user > 0 && r.to.device > 0);
      FUZZ_CHECK(r.signal_key == "sdp" || r.signal_key == "candidate");
      FUZZ_CHECK(r.signal_json.size() <= RequestLimits::kMaxCallSignal);
      [[fallthrough]];
    case RequestType::kCallAccept:
    case RequestType::kCallDecline:
    case RequestType::kCallCancel:
    case RequestType::kCallHangUp:
    case RequestType::kCallRejoin:
      FUZZ_CHECK(!r.cid.empty() && Utf8(r.call));
      FUZZ_CHECK(!r.call.empty() && r.call.size() <= RequestLimits::kMaxCallId);
      break;
  }
}

// The request as a client library would write it.
std::string WriteSend(const ClientRequest& r) {
  ringcast::JsonWriter writer;
  return writer.BeginObject()
      .Field("type", "send")
      .Field("conv", r.conv)
      .Field("cid", r.cid)
      .Field("kind", r.kind)
      .Field("body", r.body)
      .EndObject()
      .Take();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<char[]> copy(new char[size == 0 ? 1 : size]);
  if (size != 0) std::memcpy(copy.get(), data, size);
  const std::string_view text(copy.get(), size);

  // A small body limit, so the fuzzer reaches that refusal with short inputs.
  const RequestLimits limits{.max_body = 64};
  // One per input, so every finding replays from its input alone; the second Parse below checks
  // reuse, which a SessionHost relies on.
  RequestParser parser(limits);
  ClientRequest request;
  RequestError error;
  const bool ok = parser.Parse(text, &request, &error);
  if (ok) {
    CheckAccepted(request, limits);
  } else {
    FUZZ_CHECK(!error.message.empty());
    FUZZ_CHECK(error.cid.size() <= text.size());
    const std::string event = ringcast::chat::EncodeRequestError(error);
    FUZZ_CHECK(Utf8(event));
    simdjson::dom::parser json;
    FUZZ_CHECK(json.parse(event).error() == simdjson::SUCCESS);
  }
  ClientRequest again;
  RequestError again_error;
  FUZZ_CHECK(parser.Parse(text, &again, &again_error) == ok);
  if (ok) {
    FUZZ_CHECK(SameRequest(request, again));
  } else {
    FUZZ_CHECK(error.message == again_error.message && error.cid == again_error.cid);
  }
  if (ok && request.type == RequestType::kCallSignal) {
    // The relayed object is written anew (calls/signal_payload.h): JSON, no line break an event
    // stream would cut, and written again it is what it was.
    FUZZ_CHECK(request.signal_json.find_first_of("\r\n") == std::string::npos);
    simdjson::dom::parser json;
    simdjson::dom::object object;
    FUZZ_CHECK(json.parse(request.signal_json).get(object) == simdjson::SUCCESS);
    ringcast::JsonWriter resent;
    resent.BeginObject()
        .Field("type", "call_signal")
        .Field("call", request.call)
        .Field("cid", request.cid)
        .Key("to")
        .BeginObject()
        .Field("user", request.to.user)
        .Field("device", request.to.device)
        .EndObject()
        .Key(request.signal_key)
        .Raw(request.signal_json)
        .EndObject();
    ClientRequest reparsed;
    FUZZ_CHECK(parser.Parse(resent.str(), &reparsed, &again_error));
    FUZZ_CHECK(reparsed.signal_json == request.signal_json);
  }
  if (ok && request.type == RequestType::kSend) {
    const std::string written = WriteSend(request);
    ClientRequest reparsed;
    FUZZ_CHECK(parser.Parse(written, &reparsed, &again_error));
    // Only what a send carries: the original may hold other fields a send ignores.
    FUZZ_CHECK(reparsed.type == RequestType::kSend && reparsed.conv == request.conv &&
               reparsed.cid == request.cid && reparsed.kind == request.kind &&
               reparsed.body == request.body);
  }

  ringcast::chat::Credentials credentials;
  if (!ringcast::chat::ParseCredentials(text, &credentials)) {
    FUZZ_CHECK(Utf8(credentials.username) && Utf8(credentials.password));
  }
  ringcast::chat::NewConversation conversation;
  if (!ringcast::chat::ParseNewConversation(text, &conversation)) {
    for (const int64_t member : conversation.members) FUZZ_CHECK(member > 0);
    FUZZ_CHECK(!conversation.name || Utf8(*conversation.name));
  }
  std::vector<int64_t> members;
  if (!ringcast::chat::ParseMemberList(text, &members)) {
    FUZZ_CHECK(!members.empty());
    for (const int64_t member : members) FUZZ_CHECK(member > 0);
  }
  for (const bool edit : {true, false}) {
    ringcast::chat::MessageChangeBody change;
    if (!ringcast::chat::ParseMessageChange(text, edit, 64, &change)) {
      FUZZ_CHECK(change.body.size() <= 64 && Utf8(change.body) && Utf8(change.cid));
      FUZZ_CHECK(change.cid.size() <= ringcast::chat::RequestLimits::kMaxCid);
      FUZZ_CHECK(edit || (change.body.empty() && change.mentions.empty()));
      for (const int64_t user : change.mentions) FUZZ_CHECK(user > 0);
    }
  }
  return 0;
}
