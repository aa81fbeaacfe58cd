// Reading what was written (proto/PROTOCOL.md, "Sync" and "History"): sync, the store's answer
// for many conversations at once, and history, one conversation's page through its owner (which
// serves recent pages from its cache). Each is answered once; the session's requests behind it
// wait for the answer (SessionHost::FinishAnswer).
// What they do: chat/ops/history_ops.cc.
#include <charconv>

#include "chat/ops/wire.h"
#include "chat/stomp/stomp_mapping.h"
#include "proto/json_writer.h"

namespace ringcast::chat::ops {
namespace {
namespace ondemand = simdjson::ondemand;

// A sync's "convs": {"<conv id>": last_seq_seen, ...}.
std::optional<std::string> ReadSyncAsks(ondemand::value value, std::vector<storage::SyncAsk>* out) {
  constexpr std::string_view kShape =
      "must be an object mapping conversation ids (strings) to non-negative seqs";
  ondemand::object convs;
  if (value.get_object().get(convs) != simdjson::SUCCESS) return FieldError("convs", kShape);
  for (auto entry : convs) {
    std::string_view conv_key;
    int64_t after;
    int64_t conv = 0;
    if (entry.unescaped_key().get(conv_key) != simdjson::SUCCESS ||
        entry.value().get_int64().get(after) != simdjson::SUCCESS || after < 0) {
      return FieldError("convs", kShape);
    }
    auto [end, ec] = std::from_chars(conv_key.data(), conv_key.data() + conv_key.size(), conv);
    if (ec != std::errc() || end != conv_key.data() + conv_key.size() || conv <= 0) {
      return FieldError("convs", kShape);
    }
    if (out->size() == RequestLimits::kMaxSyncConvs) {
      return FieldError("convs", "has more than " + std::to_string(RequestLimits::kMaxSyncConvs) +
                                     " conversations");
    }
    out->push_back({conv, after});
  }
  return std::nullopt;
}

constexpr std::string_view kSyncFields[] = {"convs"};

bool ParseSync(RequestReader& reader, Request* request) {
  SyncRequest& sync = request->emplace<SyncRequest>();
  if (!reader.Fields(kSyncFields,
                     [&](int, ondemand::value value) { return ReadSyncAsks(value, &sync.asks); })) {
    return false;
  }
  sync.all = !reader.Has(0);
  return true;
}

// SEND /app/chat.sync: the body is the sync's "convs" ({"<conv>": last_seq_seen, ...}); none:
// every conversation. Read and written anew, as every relayed value is.
std::optional<std::string> SyncFromStomp(const stomp::Frame& frame, std::string_view,
                                         std::string* error) {
  JsonWriter json;
  json.BeginObject().Field("type", "sync");
  if (frame.body.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    ondemand::parser parser;
    std::string buffer;
    ondemand::document doc;
    ondemand::value convs;
    std::vector<storage::SyncAsk> asks;
    std::optional<std::string> fault;
    if (IterateJson(parser, buffer, frame.body, doc) != simdjson::SUCCESS ||
        doc.get_value().get(convs) != simdjson::SUCCESS) {
      fault = "the body is not JSON";
    } else if ((fault = ReadSyncAsks(convs, &asks)); !fault && !AtEnd(doc)) {
      fault = "the body is not JSON: more follows its object";
    }
    if (fault) {
      *error = "SEND to /app/chat.sync: " + *fault;
      return std::nullopt;
    }
    json.Key("convs").BeginObject();
    for (const storage::SyncAsk& ask : asks) json.Field(std::to_string(ask.conv), ask.after);
    json.EndObject();
  }
  return json.EndObject().Take();
}

enum HistoryField : int { kConv, kBefore, kSeen, kLimit };
constexpr std::string_view kHistoryFields[] = {"conv", "before", "seen", "limit"};

bool ParseHistory(RequestReader& reader, Request* request) {
  HistoryRequest& history = request->emplace<HistoryRequest>();
  return reader.Fields(kHistoryFields, [&](int field, ondemand::value value) {
    return field == kConv ? ReadPositiveId(value, "conv", &history.conv)
                          : ReadPageField(field - kBefore, value, &history.page);
  }) && reader.Need(kConv, "conv");
}

// SEND /app/chat.history: the conversation, and "before" and "limit" when given.
std::optional<std::string> HistoryFromStomp(const stomp::Frame& frame, std::string_view,
                                            std::string* error) {
  std::optional<int64_t> conv = stomp_map::ConversationHeader(frame, error);
  if (!conv) return std::nullopt;
  JsonWriter json;
  json.BeginObject().Field("type", "history").Field("conv", *conv);
  for (std::string_view name : {"before", "limit"}) {
    std::optional<int64_t> value = stomp_map::CountHeader(frame, name, error);
    if (!error->empty()) return std::nullopt;
    if (value) json.Field(name, *value);
  }
  return json.EndObject().Take();
}

constexpr Wire kWires[] = {
    {.type = "sync",
     .parse = ParseSync,
     .stomp_destination = "/app/chat.sync",
     .from_stomp = SyncFromStomp},
    {.type = "history",
     .parse = ParseHistory,
     .stomp_destination = "/app/chat.history",
     .from_stomp = HistoryFromStomp},
};

}  // namespace

std::span<const Wire> HistoryWires() { return kWires; }

}  // namespace ringcast::chat::ops
