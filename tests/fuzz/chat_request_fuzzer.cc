// libFuzzer harness for the chat protocol's request parsers: RequestReader with every
// operation's wire (chat/ops/: the envelope, then the operation's own parser, as /ws, SSE and
// STOMP requests are read) and the HTTP body parsers (chat/protocol.h), all on simdjson On
// Demand. The input is one message or body; each parser sees it as an exact-size allocation, so
// ASan catches a read into simdjson's padding that the parser did not provide itself.
//
// Invariants checked beyond "no crash, no sanitizer report":
// - an accepted request obeys the limits the rest of the service relies on (ids positive, cid
//   1-64 bytes where the operation needs one, kind 1-32, body within max_body, history limit
//   1-200, at most 1000 sync entries), and every string it carries is valid UTF-8 (it is echoed
//   into JSON text frames); its type is the wire's, in the registry;
// - a refusal has a message, echoes no more cid than the input held, and its error event is
//   valid UTF-8 and valid JSON (the cid it echoes comes from untrusted input);
// - the reused reader gives the same answer twice (its buffer and simdjson state carry over);
// - an accepted send, written back with JsonWriter and parsed again, gives the same fields;
// - an accepted call_signal's payload is JSON written anew, with no line break, and a fixed
//   point: sent again, it comes back the same.
#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "chat/auth/jwt.h"
#include "chat/ops/wire.h"
#include "chat/protocol.h"
#include "proto/json_writer.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace ops = ringcast::chat::ops;
using ringcast::chat::CallRequest;
using ringcast::chat::RequestError;
using ringcast::chat::RequestLimits;

bool Utf8(std::string_view s) {
  return ringcast::fuzz::ReferenceUtf8(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

bool CidOk(std::string_view cid) { return !cid.empty() && cid.size() <= RequestLimits::kMaxCid; }

void CheckPage(const ops::PageAsk& page) {
  FUZZ_CHECK(page.before >= 0 && page.seen >= 0);
  FUZZ_CHECK(page.limit >= 1 && page.limit <= RequestLimits::kMaxHistory);
}

// What each operation's request must hold once its parser accepted it.
struct CheckAccepted {
  const RequestLimits& limits;
  std::string_view cid;

  void operator()(const ops::PingRequest&) const {}
  void operator()(const ops::MessageRequest& r) const {
    FUZZ_CHECK(r.conv > 0 && CidOk(cid) && Utf8(r.kind) && Utf8(r.body));
    FUZZ_CHECK(!r.kind.empty() && r.kind.size() <= RequestLimits::kMaxKind);
    FUZZ_CHECK(r.body.size() <= limits.max_body);
    FUZZ_CHECK(r.target >= 0 && r.reply_to >= 0 && (!r.thread || r.reply_to > 0));
    FUZZ_CHECK(r.attachments.size() <= RequestLimits::kMaxAttachments);
    for (const int64_t user : r.mentions) FUZZ_CHECK(user > 0);
  }
  void operator()(const ops::WatermarkRequest& r) const { FUZZ_CHECK(r.conv > 0 && r.seq >= 0); }
  void operator()(const ops::SyncRequest& r) const {
    FUZZ_CHECK(r.asks.size() <= RequestLimits::kMaxSyncConvs);
    FUZZ_CHECK(!r.all || r.asks.empty());
    for (const auto& ask : r.asks) FUZZ_CHECK(ask.conv > 0 && ask.after >= 0);
  }
  void operator()(const ops::HistoryRequest& r) const {
    FUZZ_CHECK(r.conv > 0);
    CheckPage(r.page);
  }
  void operator()(const ops::ThreadRequest& r) const {
    FUZZ_CHECK(r.conv > 0 && r.root > 0);
    CheckPage(r.page);
  }
  void operator()(const ops::ThreadReadRequest& r) const {
    FUZZ_CHECK(r.conv > 0 && r.root > 0 && r.seq >= 0);
  }
  void operator()(const ops::TypingRequest& r) const { FUZZ_CHECK(r.conv > 0); }
  void operator()(const ops::StarRequest& r) const { FUZZ_CHECK(r.conv > 0 && r.seq > 0); }
  void operator()(const ops::StarsRequest& r) const {
    FUZZ_CHECK(r.page.seen == 0);  // Not one of its fields.
    CheckPage(r.page);
  }
  void operator()(const ops::AuthRequest& r) const {
    FUZZ_CHECK(Utf8(r.token));
    FUZZ_CHECK(!r.token.empty() && r.token.size() <= ringcast::auth::kMaxTokenBytes);
  }
  void operator()(const CallRequest& r) const {
    FUZZ_CHECK(CidOk(cid));
    if (r.op == ringcast::chat::CallOp::kInvite) {
      FUZZ_CHECK(r.conv > 0);
      return;
    }
    FUZZ_CHECK(Utf8(r.call) && !r.call.empty() && r.call.size() <= RequestLimits::kMaxCallId);
    if (r.op != ringcast::chat::CallOp::kSignal) return;
    FUZZ_CHECK(r.to.user > 0 && r.to.device > 0);
    FUZZ_CHECK(r.signal_key == "sdp" || r.signal_key == "candidate");
    FUZZ_CHECK(r.signal_json.size() <= RequestLimits::kMaxCallSignal);
  }
};

// The request as a client library would write it.
std::string WriteSend(const ops::MessageRequest& r, std::string_view cid) {
  ringcast::JsonWriter writer;
  return writer.BeginObject()
      .Field("type", "send")
      .Field("conv", r.conv)
      .Field("cid", cid)
      .Field("kind", r.kind)
      .Field("body", r.body)
      .EndObject()
      .Take();
}

// The call_signal written again around its payload: the object comes back as it was written.
void CheckSignalIsAFixedPoint(ops::RequestReader& reader, const CallRequest& r,
                              std::string_view cid) {
  FUZZ_CHECK(r.signal_json.find_first_of("\r\n") == std::string::npos);
  simdjson::dom::parser json;
  simdjson::dom::object object;
  FUZZ_CHECK(json.parse(r.signal_json).get(object) == simdjson::SUCCESS);
  ringcast::JsonWriter resent;
  resent.BeginObject()
      .Field("type", "call_signal")
      .Field("call", r.call)
      .Field("cid", cid)
      .Key("to")
      .BeginObject()
      .Field("user", r.to.user)
      .Field("device", r.to.device)
      .EndObject()
      .Key(r.signal_key)
      .Raw(r.signal_json)
      .EndObject();
  ops::Request reparsed;
  RequestError error;
  FUZZ_CHECK(reader.Parse(resent.str(), &reparsed, &error) != nullptr);
  FUZZ_CHECK(std::get<CallRequest>(reparsed).signal_json == r.signal_json);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ringcast::fuzz::ExactCopy copy(data, size);
  const std::string_view text = copy.text();

  // A small body limit, so the fuzzer reaches that refusal with short inputs.
  const RequestLimits limits{.max_body = 64};
  // One per input, so every finding replays from its input alone; the second Parse below checks
  // reuse, which a SessionHost relies on.
  ops::RequestReader reader(limits);
  ops::Request request;
  RequestError error;
  const ops::Wire* wire = reader.Parse(text, &request, &error);
  if (wire != nullptr) {
    FUZZ_CHECK(ops::FindWire(wire->type) == wire);
    std::visit(CheckAccepted{limits, error.cid}, request);
  } else {
    FUZZ_CHECK(!error.message.empty());
    FUZZ_CHECK(error.cid.size() <= text.size());
    const std::string event = ringcast::chat::EncodeRequestError(error);
    FUZZ_CHECK(Utf8(event));
    simdjson::dom::parser json;
    FUZZ_CHECK(json.parse(event).error() == simdjson::SUCCESS);
  }
  ops::Request again;
  RequestError again_error;
  FUZZ_CHECK(reader.Parse(text, &again, &again_error) == wire);
  if (wire != nullptr) {
    FUZZ_CHECK(request == again && error.cid == again_error.cid);
  } else {
    FUZZ_CHECK(error.message == again_error.message && error.cid == again_error.cid);
  }
  if (wire != nullptr && wire->type == "call_signal") {
    CheckSignalIsAFixedPoint(reader, std::get<CallRequest>(request), error.cid);
  }
  if (wire != nullptr && wire->type == "send") {
    const auto& send = std::get<ops::MessageRequest>(request);
    ops::Request reparsed;
    FUZZ_CHECK(reader.Parse(WriteSend(send, error.cid), &reparsed, &again_error) == wire);
    // Only what a send carries: the original may hold other fields a send ignores.
    const auto& back = std::get<ops::MessageRequest>(reparsed);
    FUZZ_CHECK(back.conv == send.conv && again_error.cid == error.cid && back.kind == send.kind &&
               back.body == send.body);
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
