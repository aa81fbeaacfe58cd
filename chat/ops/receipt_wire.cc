// What a member tells the others of a conversation without writing a message (proto/PROTOCOL.md,
// "Receipts" and "Typing"): its delivered and read watermarks, which its owner commits and
// publishes, and typing, which the owner relays and forgets.
// What they do: chat/ops/receipt_ops.cc.
#include "chat/ops/wire.h"
#include "chat/stomp/stomp_mapping.h"
#include "proto/json_writer.h"

namespace ringcast::chat::ops {
namespace {
namespace ondemand = simdjson::ondemand;

constexpr std::string_view kWatermarkFields[] = {"conv", "seq"};

template <bool kRead>
bool ParseWatermark(RequestReader& reader, Request* request) {
  WatermarkRequest& mark = request->emplace<WatermarkRequest>();
  mark.read = kRead;
  return reader.Fields(kWatermarkFields,
                       [&](int field, ondemand::value value) {
                         return field == 0 ? ReadPositiveId(value, "conv", &mark.conv)
                                           : ReadNonNegative(value, "seq", &mark.seq);
                       }) &&
         reader.Need(0, "conv") && reader.Need(1, "seq");
}

// SEND /app/chat.read and /app/chat.delivered: the conversation and "seq".
template <bool kRead>
std::optional<std::string> WatermarkFromStomp(const stomp::Frame& frame, std::string_view,
                                              std::string* error) {
  std::optional<int64_t> conv = stomp_map::ConversationHeader(frame, error);
  if (!conv) return std::nullopt;
  std::optional<int64_t> seq = stomp_map::CountHeader(frame, "seq", error);
  if (!seq) {
    if (error->empty()) *error = "missing header \"seq\"";
    return std::nullopt;
  }
  JsonWriter json;
  return json.BeginObject()
      .Field("type", kRead ? "read" : "delivered")
      .Field("conv", *conv)
      .Field("seq", *seq)
      .EndObject()
      .Take();
}

constexpr std::string_view kTypingFields[] = {"conv", "state"};

bool ParseTyping(RequestReader& reader, Request* request) {
  TypingRequest& typing = request->emplace<TypingRequest>();
  std::string state;
  if (!reader.Fields(kTypingFields,
                     [&](int field, ondemand::value value) {
                       return field == 0 ? ReadPositiveId(value, "conv", &typing.conv)
                                         : ReadString(value, "state", &state);
                     }) ||
      !reader.Need(0, "conv")) {
    return false;
  }
  if (state != "start" && state != "stop") {
    return reader.Fail("\"state\" must be \"start\" or \"stop\"");
  }
  typing.start = state == "start";
  return true;
}

// SEND /app/chat.typing: the conversation and "state" (start when absent).
std::optional<std::string> TypingFromStomp(const stomp::Frame& frame, std::string_view,
                                           std::string* error) {
  std::optional<int64_t> conv = stomp_map::ConversationHeader(frame, error);
  if (!conv) return std::nullopt;
  const std::string_view state = frame.Find("state").value_or("start");
  if (state != "start" && state != "stop") {
    *error = "header \"state\" must be start or stop";
    return std::nullopt;
  }
  JsonWriter json;
  return json.BeginObject()
      .Field("type", "typing")
      .Field("conv", *conv)
      .Field("state", state)
      .EndObject()
      .Take();
}

constexpr Wire kWires[] = {
    {.type = "delivered",
     .parse = ParseWatermark<false>,
     .stomp_destination = "/app/chat.delivered",
     .from_stomp = WatermarkFromStomp<false>},
    {.type = "read",
     .parse = ParseWatermark<true>,
     .stomp_destination = "/app/chat.read",
     .from_stomp = WatermarkFromStomp<true>},
    {.type = "typing",
     .parse = ParseTyping,
     .stomp_destination = "/app/chat.typing",
     .from_stomp = TypingFromStomp},
};

}  // namespace

std::span<const Wire> ReceiptWires() { return kWires; }

}  // namespace ringcast::chat::ops
