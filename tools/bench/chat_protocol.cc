#include "tools/bench/chat_protocol.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

namespace ringcast::bench {
namespace {

char* AppendDecimal(char* p, uint64_t value) { return std::to_chars(p, p + 20, value).ptr; }

bool ParseDecimal(std::string_view text, uint64_t* value) {
  if (text.empty() || text.size() > 20) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && end == text.data() + text.size();
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

bool ContainsTokenIgnoreCase(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (EqualsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// `"key" what`, built by appending: GCC 12 at -O3 reports a false -Wrestrict overlap inside
// libstdc++ for `"\"" + std::string(key) + ...` (GCC bug 105329).
void SetFieldError(std::string* error, std::string_view key, std::string_view what) {
  error->assign(1, '"');
  error->append(key).append("\" ").append(what);
}

}  // namespace

size_t WriteChatStamp(char* out, const ChatStamp& stamp) {
  // At most 10 + 20 + 19 + 5 digits, three dots and the flag: 58 < kChatStampMax.
  char* p = AppendDecimal(out, stamp.publisher);
  *p++ = '.';
  p = AppendDecimal(p, stamp.sequence);
  *p++ = '.';
  p = AppendDecimal(p, static_cast<uint64_t>(std::max<int64_t>(0, stamp.intended_ns)));
  *p++ = '.';
  p = AppendDecimal(p, stamp.step);
  *p++ = stamp.measured ? 'm' : 'w';
  return static_cast<size_t>(p - out);
}

bool ReadChatStamp(std::string_view text, ChatStamp* stamp) {
  text = text.substr(0, text.find(' '));
  if (text.size() < 8 || text.size() > kChatStampMax) return false;
  const char flag = text.back();
  if (flag != 'm' && flag != 'w') return false;
  text.remove_suffix(1);
  uint64_t fields[4];
  for (int i = 0; i < 4; ++i) {
    const size_t dot = i < 3 ? text.find('.') : text.size();
    if (dot == std::string_view::npos || !ParseDecimal(text.substr(0, dot), &fields[i])) {
      return false;
    }
    text.remove_prefix(i < 3 ? dot + 1 : dot);
  }
  if (fields[0] > UINT32_MAX || fields[2] > uint64_t{INT64_MAX} || fields[3] > UINT16_MAX) {
    return false;
  }
  stamp->publisher = static_cast<uint32_t>(fields[0]);
  stamp->sequence = fields[1];
  stamp->intended_ns = static_cast<int64_t>(fields[2]);
  stamp->step = static_cast<uint16_t>(fields[3]);
  stamp->measured = flag == 'm';
  return true;
}

void AppendChatSend(std::string* out, uint64_t conv, const ChatStamp& stamp, size_t body_bytes) {
  char buf[kChatStampMax];
  const size_t n = WriteChatStamp(buf, stamp);
  const std::string_view text(buf, n);
  char number[24];
  const std::string_view conv_text(number,
                                   static_cast<size_t>(AppendDecimal(number, conv) - number));
  out->append(R"({"type":"send","conv":)").append(conv_text);
  out->append(R"(,"cid":")").append(text);
  out->append(R"(","body":")").append(text);
  if (body_bytes > n) {
    out->push_back(' ');
    out->append(body_bytes - n - 1, 'x');
  }
  out->append("\"}");
}

// --- events ---------------------------------------------------------------------------------

namespace {

// The fields the tool reads, by key; any other key is skipped. "user" is a number in hello and
// message events; presence and receipts name users the same way.
constexpr std::pair<std::string_view, uint64_t ChatEvent::*> kNumberFields[] = {
    {"conv", &ChatEvent::conv}, {"id", &ChatEvent::id},     {"seq", &ChatEvent::seq},
    {"from", &ChatEvent::from}, {"user", &ChatEvent::user},
};
constexpr std::pair<std::string_view, std::string_view ChatEvent::*> kStringFields[] = {
    {"type", &ChatEvent::type_name}, {"cid", &ChatEvent::cid},         {"body", &ChatEvent::body},
    {"code", &ChatEvent::code},      {"message", &ChatEvent::message},
};

}  // namespace

struct ChatEventParser::Impl {
  simdjson::ondemand::parser parser;
  std::vector<char> padded;  // simdjson reads up to SIMDJSON_PADDING bytes past the end.
};

ChatEventParser::ChatEventParser() : impl_(std::make_unique<Impl>()) {}
ChatEventParser::~ChatEventParser() = default;

bool ChatEventParser::Parse(std::span<const uint8_t> text, ChatEvent* event, std::string* error) {
  namespace od = simdjson::ondemand;
  *event = ChatEvent();
  std::vector<char>& padded = impl_->padded;
  if (padded.size() < text.size() + simdjson::SIMDJSON_PADDING) {
    padded.resize(text.size() + simdjson::SIMDJSON_PADDING);
  }
  if (!text.empty()) std::memcpy(padded.data(), text.data(), text.size());
  od::document doc;
  od::object object;
  if (impl_->parser.iterate(padded.data(), text.size(), padded.size()).get(doc) ||
      doc.get_object().get(object)) {
    *error = "not a JSON object";
    return false;
  }
  for (auto result : object) {
    od::field field;
    std::string_view key;
    if (std::move(result).get(field) || field.unescaped_key().get(key)) {
      *error = "malformed JSON";
      return false;
    }
    od::value value = field.value();
    for (const auto& [name, member] : kNumberFields) {
      if (key == name && value.get_uint64().get(event->*member)) {
        SetFieldError(error, key, "is not a non-negative integer");
        return false;
      }
    }
    for (const auto& [name, member] : kStringFields) {
      if (key == name && value.get_string().get(event->*member)) {
        SetFieldError(error, key, "is not a string");
        return false;
      }
    }
  }
  if (event->type_name.empty()) {
    *error = "no \"type\"";
    return false;
  }
  const std::string_view type = event->type_name;
  event->type = type == "message" ? ChatEventType::kMessage
                : type == "ack"   ? ChatEventType::kAck
                : type == "hello" ? ChatEventType::kHello
                : type == "error" ? ChatEventType::kError
                                  : ChatEventType::kOther;
  return true;
}

bool JsonObjectUint(std::string_view json, std::string_view key, uint64_t* value) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(json.data(), json.size()).get_object().get(object)) return false;
  return !object.at_key(key).get_uint64().get(*value);
}

bool JsonObjectString(std::string_view json, std::string_view key, std::string* value) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  std::string_view text;
  if (parser.parse(json.data(), json.size()).get_object().get(object) ||
      object.at_key(key).get_string().get(text)) {
    return false;
  }
  value->assign(text);
  return true;
}

// --- HTTP -----------------------------------------------------------------------------------

HttpParse ParseHttpAnswer(std::string_view input, HttpAnswer* answer, size_t* consumed,
                          std::string* error) {
  constexpr size_t kMaxHead = 16384;
  const size_t head_end = input.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (input.size() > kMaxHead) {
      *error = "response head over " + std::to_string(kMaxHead) + " bytes";
      return HttpParse::kError;
    }
    return HttpParse::kNeedMore;
  }
  std::string_view head = input.substr(0, head_end);
  const size_t line_end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, line_end);
  head.remove_prefix(line_end == std::string_view::npos ? head.size() : line_end + 2);
  uint64_t status = 0;
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ' ||
      !ParseDecimal(status_line.substr(9, 3), &status)) {
    *error = "bad status line '" + std::string(status_line.substr(0, 80)) + "'";
    return HttpParse::kError;
  }
  HttpAnswer out;
  out.status = static_cast<int>(status);
  bool keep_alive = status_line[7] == '1';  // HTTP/1.1 by default, 1.0 only when asked.
  uint64_t length = 0;
  bool has_length = false;
  while (!head.empty()) {
    const size_t end = head.find("\r\n");
    const std::string_view line = head.substr(0, end);
    head.remove_prefix(end == std::string_view::npos ? head.size() : end + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      *error = "bad header line '" + std::string(line.substr(0, 80)) + "'";
      return HttpParse::kError;
    }
    const std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (EqualsIgnoreCase(name, "content-length")) {
      if (!ParseDecimal(value, &length) || length > (64u << 20)) {
        *error = "bad Content-Length '" + std::string(value) + "'";
        return HttpParse::kError;
      }
      has_length = true;
    } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
      *error =
          "Transfer-Encoding '" + std::string(value) + "' (the tool reads Content-Length only)";
      return HttpParse::kError;
    } else if (EqualsIgnoreCase(name, "connection")) {
      if (ContainsTokenIgnoreCase(value, "close")) keep_alive = false;
      if (ContainsTokenIgnoreCase(value, "keep-alive")) keep_alive = true;
    } else if (EqualsIgnoreCase(name, "retry-after")) {
      uint64_t seconds = 0;
      if (ParseDecimal(value, &seconds)) out.retry_after_s = static_cast<uint32_t>(seconds);
    }
  }
  const bool bodiless = out.status == 204 || out.status == 304 || out.status / 100 == 1;
  if (!has_length && !bodiless) {
    *error = "status " + std::to_string(out.status) + " without Content-Length";
    return HttpParse::kError;
  }
  const size_t body_start = head_end + 4;
  if (input.size() - body_start < length) return HttpParse::kNeedMore;
  out.body.assign(input.substr(body_start, length));
  out.close = !keep_alive;
  *answer = std::move(out);
  *consumed = body_start + length;
  return HttpParse::kOk;
}

// --- layout ---------------------------------------------------------------------------------

std::vector<std::vector<uint32_t>> ChatLayout::GroupsOfUsers() const {
  std::vector<std::vector<uint32_t>> out(users);
  for (uint32_t g = 0; g < groups; ++g) {
    for (uint32_t j = 0; j < group_size; ++j) out[Member(g, j)].push_back(g);
  }
  return out;
}

}  // namespace ringcast::bench
