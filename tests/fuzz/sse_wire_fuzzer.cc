// libFuzzer harness for the chat's SSE and long-poll wire (chat/sessions/sse_wire.h): the events
// the stream writes, the lines of a POST /sse/send body and the session and event ids a client
// sends back. The SSE stream is where one user's text reaches another user's client as lines, so
// its framing is read back here by a reference parser of HTML's event stream format.
//
// Input: byte 0 mod 3 picks what the rest is: 0, an event's JSON text (any bytes: what the
// stream must frame whatever an event holds); 1, a POST body; 2, a session id or event id.
//
// Invariants checked beyond "no crash, no sanitizer report":
// - an event written by FormatSseEvent and read by the reference parser (HTML, "Parsing an event
//   stream": a line ends at CR LF, LF or a lone CR) is exactly one event, with no field but `id`
//   and `data`: its id is "<session>:<n>" and its data is the JSON with each line break read as
//   LF; so no text an event holds can end it early, name another event type or start another;
// - the lines NextRequestLine gives are in order, inside the body, non-empty, without LF and not
//   ending in CR or a space, and every byte of the body outside them is LF, CR or a space;
//   each line read by the chat parser is accepted or refused with a message;
// - an id ParseSseSessionKey takes starts with the secret's hex digits and ends with its node;
//   an event id ParseSseEventId takes names a session id it takes too.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "chat/ops/request_reader.h"
#include "chat/protocol.h"
#include "chat/sessions/sse_wire.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using ringcast::chat::FormatSseEvent;
using ringcast::chat::kSseSecretBytes;
using ringcast::chat::NextRequestLine;
using ringcast::chat::ParseSseEventId;
using ringcast::chat::ParseSseSessionKey;
using ringcast::chat::RequestError;
using ringcast::chat::RequestLimits;

struct StreamEvent {
  std::string id;
  std::string data;
  std::vector<std::string> other_fields;  // Any field but id and data.
};

// HTML Living Standard, "Parsing an event stream" and "Interpreting an event stream", reduced to
// what the invariants need: the events dispatched, each with its id, data and other fields.
std::vector<StreamEvent> ReadEventStream(std::string_view stream) {
  std::vector<StreamEvent> events;
  StreamEvent pending;
  bool has_data = false;
  while (!stream.empty()) {
    const size_t end = stream.find_first_of("\r\n");
    if (end == std::string_view::npos) break;  // An unfinished line is not a line yet.
    const std::string_view line = stream.substr(0, end);
    stream.remove_prefix(stream.compare(end, 2, "\r\n") == 0 ? end + 2 : end + 1);
    if (line.empty()) {
      if (has_data) {
        if (!pending.data.empty() && pending.data.back() == '\n') pending.data.pop_back();
        events.push_back(pending);
      }
      pending = StreamEvent{};
      has_data = false;
      continue;
    }
    if (line.front() == ':') continue;  // A comment.
    const size_t colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (name == "data") {
      pending.data.append(value).push_back('\n');
      has_data = true;
    } else if (name == "id") {
      pending.id = value;
    } else {
      pending.other_fields.emplace_back(name);
    }
  }
  return events;
}

std::string LineBreaksAsLf(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

void CheckEvent(std::string_view json) {
  const std::string key = std::string(2 * kSseSecretBytes, 'a') + "~1~node-2";
  const uint64_t n = json.size() + 1;
  const std::string stream = FormatSseEvent(key, n, json);
  const std::vector<StreamEvent> events = ReadEventStream(stream);
  FUZZ_CHECK(events.size() == 1);
  FUZZ_CHECK(events[0].other_fields.empty());
  FUZZ_CHECK(events[0].id == key + ":" + std::to_string(n));
  FUZZ_CHECK(events[0].data == LineBreaksAsLf(json));
  std::string_view parsed_key;
  uint64_t parsed_n = 0;
  FUZZ_CHECK(ParseSseEventId(events[0].id, &parsed_key, &parsed_n));
  FUZZ_CHECK(parsed_key == key && parsed_n == n);
}

void CheckBody(std::string_view body) {
  const std::string_view whole = body;
  ringcast::chat::ops::RequestReader reader(RequestLimits{.max_body = 256});
  size_t covered = 0;  // Offset in `whole` up to which every byte is a line's or a separator.
  while (std::optional<std::string_view> line = NextRequestLine(&body)) {
    FUZZ_CHECK(!line->empty());
    FUZZ_CHECK(line->data() >= whole.data() + covered);
    FUZZ_CHECK(line->data() + line->size() <= whole.data() + whole.size());
    FUZZ_CHECK(line->find('\n') == std::string_view::npos);
    FUZZ_CHECK(line->back() != '\r' && line->back() != ' ');
    const size_t start = size_t(line->data() - whole.data());
    for (size_t i = covered; i < start; ++i) FUZZ_CHECK(std::strchr("\r\n ", whole[i]) != nullptr);
    covered = start + line->size();
    ringcast::chat::ops::Request request;
    RequestError error;
    if (reader.Parse(*line, &request, &error) == nullptr) FUZZ_CHECK(!error.message.empty());
  }
  for (size_t i = covered; i < whole.size(); ++i) {
    FUZZ_CHECK(std::strchr("\r\n ", whole[i]) != nullptr);
  }
}

void CheckIds(std::string_view text) {
  if (const auto key = ParseSseSessionKey(text)) {
    for (char c : text.substr(0, 2 * kSseSecretBytes)) {
      FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }
    FUZZ_CHECK(text[2 * kSseSecretBytes] == '~');
    FUZZ_CHECK(key->node.empty() || text.ends_with(key->node));
  }
  std::string_view key;
  uint64_t n = 0;
  if (ParseSseEventId(text, &key, &n)) {
    FUZZ_CHECK(text.starts_with(key) && text.size() > key.size() && text[key.size()] == ':');
    FUZZ_CHECK(ParseSseSessionKey(key).has_value());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // An exact-size copy: ASan sees any read past what the client sent.
  const ringcast::fuzz::ExactCopy copy(data + 1, size - 1);
  const std::string_view text = copy.text();
  switch (data[0] % 3) {
    case 0:
      CheckEvent(text);
      break;
    case 1:
      CheckBody(text);
      break;
    default:
      CheckIds(text);
      break;
  }
  return 0;
}
