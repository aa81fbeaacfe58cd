// Calls' signalling (proto/PROTOCOL.md, "Calls: signalling"; docs/calls.md): every call_* request
// goes to the shard that holds the call through the session's CallLink, which answers with
// call_ack or an error carrying the cid. Not over STOMP.
// What they do: chat/ops/call_ops.cc.
#include "chat/calls/signal_payload.h"
#include "chat/ops/wire.h"

namespace ringcast::chat::ops {
namespace {
namespace ondemand = simdjson::ondemand;

enum Field : int { kConv, kCall, kCallKind, kTo, kSdp, kCandidate };
constexpr std::string_view kFields[] = {"conv", "call", "call_kind", "to", "sdp", "candidate"};

// A call_signal's "to": {"user": id, "device": id}.
std::optional<std::string> ReadCallDevice(ondemand::value value, CallDevice* out) {
  ondemand::object object;
  int64_t user = 0, device = 0;
  if (value.get_object().get(object) != simdjson::SUCCESS ||
      object["user"].get_int64().get(user) != simdjson::SUCCESS ||
      object["device"].get_int64().get(device) != simdjson::SUCCESS || user <= 0 || device <= 0) {
    return FieldError("to", "must be {\"user\": id, \"device\": id}");
  }
  *out = CallDevice{user, static_cast<uint64_t>(device)};
  return std::nullopt;
}

// The fields of every call_* request; a relayed payload is written anew (signal_payload.h),
// never passed on as the client's bytes.
bool ReadFields(RequestReader& reader, CallRequest* call, std::string* call_kind) {
  return reader.Fields(
      kFields, [&](int field, ondemand::value value) -> std::optional<std::string> {
        const std::string_view key = kFields[field];
        switch (static_cast<Field>(field)) {
          case kConv:
            return ReadPositiveId(value, key, &call->conv);
          case kCall:
            if (auto fault = ReadString(value, key, &call->call)) return fault;
            if (!call->call.empty() && call->call.size() <= RequestLimits::kMaxCallId) {
              return std::nullopt;
            }
            return FieldError(key, "must be a call's id");
          case kCallKind:
            return ReadString(value, key, call_kind);
          case kTo:
            return ReadCallDevice(value, &call->to);
          case kSdp:
          case kCandidate: {
            call->signal_key = key;
            bool malformed = false;
            return ReadSignalPayload(value, key, &call->signal_json, &malformed);
          }
        }
        return std::nullopt;
      });
}

template <CallOp kOp>
bool ParseCall(RequestReader& reader, Request* request) {
  CallRequest& call = request->emplace<CallRequest>();
  call.op = kOp;
  std::string call_kind;
  if (!ReadFields(reader, &call, &call_kind) || !reader.NeedCid()) return false;
  if constexpr (kOp == CallOp::kInvite) {
    if (!reader.Need(kConv, "conv")) return false;
    if (call_kind != "audio" && call_kind != "video") {
      return reader.Fail("\"call_kind\" must be \"audio\" or \"video\"");
    }
    call.kind = call_kind == "video" ? CallKind::kVideo : CallKind::kAudio;
    return true;
  }
  if (!reader.Need(kCall, "call")) return false;
  if constexpr (kOp == CallOp::kSignal) {
    if (!reader.Need(kTo, "to")) return false;
    if (reader.Has(kSdp) == reader.Has(kCandidate)) {
      return reader.Fail("a call_signal carries one of \"sdp\" and \"candidate\"");
    }
    if (call.signal_json.size() > RequestLimits::kMaxCallSignal) {
      return reader.Fail(
          FieldError(call.signal_key,
                     "longer than " + std::to_string(RequestLimits::kMaxCallSignal) + " bytes"));
    }
  }
  return true;
}

constexpr Wire kWires[] = {
    {.type = "call_invite", .parse = ParseCall<CallOp::kInvite>},
    {.type = "call_accept", .parse = ParseCall<CallOp::kAccept>},
    {.type = "call_decline", .parse = ParseCall<CallOp::kDecline>},
    {.type = "call_cancel", .parse = ParseCall<CallOp::kCancel>},
    {.type = "call_hangup", .parse = ParseCall<CallOp::kHangUp>},
    {.type = "call_rejoin", .parse = ParseCall<CallOp::kRejoin>},
    {.type = "call_signal", .parse = ParseCall<CallOp::kSignal>},
};

}  // namespace

std::span<const Wire> CallWires() { return kWires; }

}  // namespace ringcast::chat::ops
