#include "chat/stomp/stomp_mapping.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>

#include "proto/http_parser.h"
#include "proto/json_writer.h"

namespace ringcast::chat::stomp_map {
namespace {

constexpr std::string_view kTopicPrefix = "/topic/conversation.";
constexpr std::string_view kQueuePrefix = "/user/queue/";
constexpr std::string_view kQueueNames[kQueues] = {"events", "acks", "errors", "presence"};

std::optional<int64_t> ParseInt(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::optional<int64_t> ConversationHeader(const stomp::Frame& frame, std::string* error) {
  std::optional<std::string_view> text = frame.Find("conversation");
  if (!text) text = frame.Find("conv");
  if (!text) {
    *error = "missing header \"conversation\" (the conversation's id)";
    return std::nullopt;
  }
  std::optional<int64_t> conv = ParseInt(*text);
  if (!conv || *conv <= 0) {
    *error = "header \"conversation\" must be a positive integer";
    return std::nullopt;
  }
  return conv;
}

std::optional<int64_t> CountHeader(const stomp::Frame& frame, std::string_view name,
                                   std::string* error) {
  std::optional<std::string_view> text = frame.Find(name);
  if (!text) return std::nullopt;
  std::optional<int64_t> value = ParseInt(*text);
  if (!value || *value < 0) {
    *error = "header \"" + std::string(name) + "\" must be a non-negative integer";
    return std::nullopt;
  }
  return value;
}

std::optional<std::string_view> TokenOf(const stomp::Frame& frame) {
  if (auto passcode = frame.Find("passcode"); passcode && !passcode->empty()) return passcode;
  std::optional<std::string_view> header = frame.Find("Authorization");
  if (!header) header = frame.Find("authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (!header || header->size() <= kBearer.size() ||
      !http::EqualsIgnoreCase(header->substr(0, kBearer.size()), kBearer)) {
    return std::nullopt;
  }
  return header->substr(kBearer.size());
}

namespace {

// Skips one JSON value at `pos` (whatever it is), leaving `pos` after it; false if the text
// ends first.
bool SkipValue(std::string_view json, size_t& pos) {
  size_t depth = 0;
  bool in_string = false;
  for (; pos < json.size(); ++pos) {
    const char c = json[pos];
    if (in_string) {
      if (c == '\\') {
        ++pos;
      } else if (c == '"') {
        in_string = false;
        if (depth == 0) {
          ++pos;
          return true;
        }
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
      case '[':
        ++depth;
        break;
      case '}':
      case ']':
        if (depth == 0) return true;  // The enclosing object's end.
        if (--depth == 0) {
          ++pos;
          return true;
        }
        break;
      case ',':
        if (depth == 0) return true;
        break;
      default:
        break;
    }
  }
  return false;
}

// The string at `pos` (a '"'), still escaped, leaving `pos` after its closing quote.
std::optional<std::string_view> ReadString(std::string_view json, size_t& pos) {
  if (pos >= json.size() || json[pos] != '"') return std::nullopt;
  const size_t start = ++pos;
  for (; pos < json.size(); ++pos) {
    if (json[pos] == '\\') {
      ++pos;
    } else if (json[pos] == '"') {
      return json.substr(start, pos++ - start);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<Subscribable> ParseSubscribable(std::string_view destination) {
  if (destination.starts_with(kTopicPrefix)) {
    // Only the canonical spelling: the MESSAGE frames name the destination as TopicOf writes it,
    // so "conversation.03" would subscribe to frames that never carry its name.
    const std::string_view id = destination.substr(kTopicPrefix.size());
    if (id.starts_with('0')) return std::nullopt;
    std::optional<int64_t> conv = ParseInt(id);
    if (!conv || *conv <= 0) return std::nullopt;
    return Subscribable{.topic = true, .conv = *conv, .queue = Queue::kEvents};
  }
  if (destination.starts_with(kQueuePrefix)) {
    const std::string_view name = destination.substr(kQueuePrefix.size());
    for (size_t i = 0; i < kQueues; ++i) {
      if (kQueueNames[i] == name) {
        return Subscribable{.topic = false, .conv = 0, .queue = static_cast<Queue>(i)};
      }
    }
  }
  return std::nullopt;
}

std::string TopicOf(int64_t conv) { return std::string(kTopicPrefix).append(std::to_string(conv)); }

std::string_view QueueDestination(Queue queue) {
  static const std::string kDestinations[kQueues] = {
      std::string(kQueuePrefix).append(kQueueNames[0]),
      std::string(kQueuePrefix).append(kQueueNames[1]),
      std::string(kQueuePrefix).append(kQueueNames[2]),
      std::string(kQueuePrefix).append(kQueueNames[3]),
  };
  return kDestinations[size_t(queue)];
}

EventHead ScanEvent(std::string_view json) {
  EventHead head;
  constexpr std::string_view kTypeStart = "{\"type\":";
  if (!json.starts_with(kTypeStart)) return head;
  size_t pos = kTypeStart.size();
  std::optional<std::string_view> type = ReadString(json, pos);
  if (!type) return head;
  head.type = *type;
  const bool conversation_event =
      head.type == "message" || head.type == "receipt" || head.type == "typing";
  const bool error = head.type == "error";
  if (!conversation_event && !error && head.type != "ack") return head;
  while (pos < json.size() && json[pos] == ',') {
    ++pos;
    std::optional<std::string_view> key = ReadString(json, pos);
    if (!key || pos >= json.size() || json[pos] != ':') return head;
    ++pos;
    if (conversation_event && *key == "conv") {
      size_t end = json.find_first_of(",}", pos);
      if (end == std::string_view::npos) return head;
      head.conv = ParseInt(json.substr(pos, end - pos)).value_or(0);
      return head;
    }
    std::string_view* text = *key == "cid" ? &head.cid_json : nullptr;
    if (text != nullptr && pos < json.size() && json[pos] == '"') {
      // A cid echoed as a number (an error to a request whose cid was one) matches no SEND.
      std::optional<std::string_view> value = ReadString(json, pos);
      if (!value) return head;
      *text = *value;
      if (text == &head.cid_json) head.has_cid = true;
      continue;
    }
    if (!SkipValue(json, pos)) return head;
  }
  return head;
}

std::string ErrorText(std::string_view error_json) {
  simdjson::ondemand::parser parser;
  const simdjson::padded_string padded(error_json);
  simdjson::ondemand::document event;
  std::string_view code;
  std::string_view message;
  if (parser.iterate(padded).get(event) != simdjson::SUCCESS ||
      event["code"].get_string().get(code) != simdjson::SUCCESS ||
      event["message"].get_string().get(message) != simdjson::SUCCESS) {
    return "error";
  }
  return std::string(code).append(": ").append(message);
}

std::string CidAsJson(std::string_view cid) {
  std::string quoted;
  JsonWriter::AppendQuoted(quoted, cid);
  return quoted.substr(1, quoted.size() - 2);
}

bool QueueTakes(Queue queue, std::string_view type) {
  switch (queue) {
    case Queue::kEvents:
      return true;
    case Queue::kAcks:
      return type == "ack";
    case Queue::kErrors:
      return type == "error";
    case Queue::kPresence:
      return type == "presence" || type == "profile";
  }
  return false;
}

std::optional<std::pair<uint32_t, uint32_t>> ParseHeartBeat(std::string_view value) {
  const size_t comma = value.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  std::optional<int64_t> cx = ParseInt(value.substr(0, comma));
  std::optional<int64_t> cy = ParseInt(value.substr(comma + 1));
  if (!cx || !cy || *cx < 0 || *cy < 0 || *cx > UINT32_MAX || *cy > UINT32_MAX) {
    return std::nullopt;
  }
  return std::pair<uint32_t, uint32_t>(uint32_t(*cx), uint32_t(*cy));
}

}  // namespace ringcast::chat::stomp_map
