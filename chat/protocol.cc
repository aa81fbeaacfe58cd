#include "chat/protocol.h"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <utility>

#include "chat/auth/jwt.h"
#include "chat/calls/signal_payload.h"
#include "chat/json_body.h"
#include "chat/reactions.h"
#include "storage/mentions.h"
#include "storage/message_json.h"
#include "storage/message_kinds.h"

namespace ringcast::chat {
namespace ondemand = simdjson::ondemand;

namespace {

bool GetPositiveId(ondemand::value value, int64_t* out) {
  int64_t id;
  if (value.get_int64().get(id) != simdjson::SUCCESS || id <= 0) return false;
  *out = id;
  return true;
}

bool GetNonNegative(ondemand::value value, int64_t* out) {
  int64_t n;
  if (value.get_int64().get(n) != simdjson::SUCCESS || n < 0) return false;
  *out = n;
  return true;
}

// A request's number and boolean fields, read as ReadString reads its strings: the field's
// fault, or nullopt. `fault` tells the client which number a positive id is.
std::optional<std::string> ReadPositiveId(ondemand::value value, std::string_view key, int64_t* out,
                                          std::string_view fault = "must be a positive integer") {
  if (GetPositiveId(value, out)) return std::nullopt;
  return FieldError(key, fault);
}

std::optional<std::string> ReadNonNegative(ondemand::value value, std::string_view key,
                                           int64_t* out) {
  if (GetNonNegative(value, out)) return std::nullopt;
  return FieldError(key, "must be a non-negative integer");
}

std::optional<std::string> ReadBool(ondemand::value value, std::string_view key, bool* out) {
  if (value.get_bool().get(*out) == simdjson::SUCCESS) return std::nullopt;
  return FieldError(key, "must be true or false");
}

// A call_signal's "to": {"user": id, "device": id}.
std::optional<std::string> ReadCallDevice(ondemand::value value, std::string_view key,
                                          CallDevice* out) {
  ondemand::object object;
  int64_t user = 0, device = 0;
  if (value.get_object().get(object) != simdjson::SUCCESS ||
      object["user"].get_int64().get(user) != simdjson::SUCCESS ||
      object["device"].get_int64().get(device) != simdjson::SUCCESS || user <= 0 || device <= 0) {
    return FieldError(key, "must be {\"user\": id, \"device\": id}");
  }
  *out = CallDevice{user, static_cast<uint64_t>(device)};
  return std::nullopt;
}

std::optional<std::string> ParseIdArray(ondemand::value value, std::vector<int64_t>* out,
                                        std::string_view field) {
  ondemand::array array;
  if (value.get_array().get(array) != simdjson::SUCCESS) {
    return FieldError(field, "must be an array of user ids");
  }
  for (auto element : array) {
    ondemand::value item;
    int64_t id;
    if (element.get(item) != simdjson::SUCCESS || !GetPositiveId(item, &id)) {
      return FieldError(field, "must be an array of positive integers");
    }
    out->push_back(id);
  }
  return std::nullopt;
}

// The offset of the first byte that breaks UTF-8 (RFC 3629 §4: no overlong forms, no surrogates,
// nothing past U+10FFFF; a sequence cut off by the end counts from its first byte), or npos.
size_t FirstInvalidUtf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    const uint8_t lead = bytes[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t continuations;
    uint8_t second_min = 0x80, second_max = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      continuations = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      continuations = 2;
      if (lead == 0xE0) second_min = 0xA0;  // Overlong.
      if (lead == 0xED) second_max = 0x9F;  // Surrogates.
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      continuations = 3;
      if (lead == 0xF0) second_min = 0x90;  // Overlong.
      if (lead == 0xF4) second_max = 0x8F;  // Past U+10FFFF.
    } else {
      return i;
    }
    if (text.size() - i <= continuations) return i;
    if (bytes[i + 1] < second_min || bytes[i + 1] > second_max) return i;
    for (size_t k = 2; k <= continuations; ++k) {
      if ((bytes[i + k] & 0xC0) != 0x80) return i;
    }
    i += continuations + 1;
  }
  return std::string_view::npos;
}

}  // namespace

std::string JsonBodyFault(std::string_view body) {
  if (body.starts_with("\xEF\xBB\xBF")) {
    return "the body starts with a byte order mark (U+FEFF), which JSON text must not "
           "(RFC 8259 §8.1): send the JSON object alone";
  }
  const size_t start = body.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return "the body is empty: expected a JSON object";
  if (const size_t bad = FirstInvalidUtf8(body); bad != std::string_view::npos) {
    return "the body is not valid UTF-8 (byte " + std::to_string(bad) + ")";
  }
  switch (body[start]) {
    case '{':
      break;
    case '[':
      return "the body must be a JSON object, not an array";
    case '"':
      return "the body must be a JSON object, not a string";
    default:
      if (body.substr(start).starts_with("true") || body.substr(start).starts_with("false")) {
        return "the body must be a JSON object, not a boolean";
      }
      if (body.substr(start).starts_with("null")) return "the body must be a JSON object, not null";
      if (body[start] == '-' || (body[start] >= '0' && body[start] <= '9')) {
        return "the body must be a JSON object, not a number";
      }
      return "the body is not valid JSON";
  }
  // An object: whether the body ends while a string or a bracket is still open.
  std::string open;  // The brackets not yet closed, innermost last.
  bool in_string = false, escaped = false;
  for (size_t i = start; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      open.push_back(c);
    } else if (c == '}' || c == ']') {
      if (open.empty() || open.back() != (c == '}' ? '{' : '[')) {
        return "the body is not valid JSON";  // A bracket closed that is not open.
      }
      open.pop_back();
      if (open.empty()) return "the body is not valid JSON";  // Complete, yet refused.
    }
  }
  if (in_string || !open.empty()) {
    return "the body is truncated: it ends (after " + std::to_string(body.size()) +
           " bytes) before its JSON object does";
  }
  return "the body is not valid JSON";
}

namespace {

// The fields of a client request, by index (a bit each in the duplicate check).
constexpr std::string_view kRequestFields[] = {
    "type",   "conv",  "cid",      "kind",        "body",  "seq",   "before",    "limit",
    "state",  "convs", "mentions", "attachments", "token", "emoji", "on",        "reply_to",
    "thread", "root",  "call",     "call_kind",   "to",    "sdp",   "candidate", "seen"};
enum RequestField : int {
  kFieldType,
  kFieldConv,
  kFieldCid,
  kFieldKind,
  kFieldBody,
  kFieldSeq,
  kFieldBefore,
  kFieldLimit,
  kFieldState,
  kFieldConvs,
  kFieldMentions,
  kFieldAttachments,
  kFieldToken,
  kFieldEmoji,
  kFieldOn,
  kFieldReplyTo,
  kFieldThread,
  kFieldRoot,
  kFieldCall,
  kFieldCallKind,
  kFieldTo,
  kFieldSdp,
  kFieldCandidate,
  kFieldSeen,
};

// Reads "cid" into request->cid, and into error->cid_json what an error should echo: the
// string (even one too long or empty, which the send checks refuse later), or a number's text
// as the client wrote it (an integer only within 64 bits). Other types (and a string that does
// not unescape) echo nothing.
std::optional<std::string> ReadCid(ondemand::value value, ClientRequest* request,
                                   RequestError* error) {
  ondemand::json_type type;
  if (value.type().get(type) == simdjson::SUCCESS && type == ondemand::json_type::number) {
    double number;
    if (value.get_double().get(number) == simdjson::SUCCESS) {
      std::string_view token = value.raw_json_token();
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t' ||
                                token.back() == '\n' || token.back() == '\r')) {
        token.remove_suffix(1);
      }
      // An integer past 64 bits is valid JSON that many parsers (simdjson's DOM among them)
      // refuse; the error is for the client to read, so such a cid is not echoed.
      bool integer = token.find_first_of(".eE") == std::string_view::npos;
      int64_t as_int;
      if (!integer ||
          std::from_chars(token.data(), token.data() + token.size(), as_int).ec == std::errc()) {
        error->cid_json.assign(token);
      }
    }
    return FieldError("cid", "must be a string");
  }
  if (auto fault = ReadString(value, "cid", &request->cid)) return fault;
  error->cid = request->cid;
  JsonWriter quoted;
  error->cid_json = quoted.String(request->cid).Take();
  return std::nullopt;
}

// Reads "attachments" of a send: distinct upload ids (22 base64url characters each).
std::optional<std::string> ReadAttachments(ondemand::value value, ClientRequest* request) {
  const std::string kShape = "must be an array of at most " +
                             std::to_string(RequestLimits::kMaxAttachments) +
                             " distinct upload ids";
  ondemand::array ids;
  if (value.get_array().get(ids) != simdjson::SUCCESS) return FieldError("attachments", kShape);
  for (auto element : ids) {
    std::string_view id;
    if (element.get_string().get(id) != simdjson::SUCCESS || id.size() != 22 ||
        request->attachments.size() == RequestLimits::kMaxAttachments) {
      return FieldError("attachments", kShape);
    }
    for (char c : id) {
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_')) {
        return FieldError("attachments", kShape);
      }
    }
    for (const std::string& seen : request->attachments) {
      if (seen == id) return FieldError("attachments", kShape);
    }
    request->attachments.emplace_back(id);
  }
  return std::nullopt;
}

// Reads "convs" of a sync: {"<conv id>": last_seq_seen, ...}.
std::optional<std::string> ReadSyncAsks(ondemand::value value, ClientRequest* request) {
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
    if (request->asks.size() == RequestLimits::kMaxSyncConvs) {
      return FieldError("convs", "has more than " + std::to_string(RequestLimits::kMaxSyncConvs) +
                                     " conversations");
    }
    request->asks.push_back({conv, after});
  }
  return std::nullopt;
}

}  // namespace

bool RequestParser::Parse(std::string_view text, ClientRequest* request, RequestError* error) {
  *request = ClientRequest{};
  error->cid.clear();
  error->cid_json.clear();
  auto fail = [&](std::string message) {
    error->message = std::move(message);
    return false;
  };
  ondemand::document doc;
  ondemand::object object;
  if (IterateJson(parser_, buffer_, text, doc) != simdjson::SUCCESS) return fail("not JSON");
  if (doc.get_object().get(object) != simdjson::SUCCESS) return fail("not a JSON object");

  std::string type;
  std::string state;
  std::string call_kind;
  uint32_t seen = 0;
  // The first fault found; reported once the whole object is read, so that the error can
  // carry the cid even when the fault comes before it.
  std::optional<std::string> fault;
  for (auto field : object) {
    std::string_view key;
    ondemand::value value;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS ||
        field.value().get(value) != simdjson::SUCCESS) {
      return fail("not JSON");
    }
    const int index = FieldIndex(kRequestFields, key);
    if (index < 0) continue;  // Unknown fields are ignored (forward compatibility).
    std::optional<std::string> bad;
    if (seen & (uint32_t{1} << index)) {
      bad = DuplicateField(key);
    } else {
      seen |= uint32_t{1} << index;
      switch (static_cast<RequestField>(index)) {
        case kFieldType:
          bad = ReadString(value, key, &type);
          break;
        case kFieldConv:
          bad = ReadPositiveId(value, key, &request->conv);
          break;
        case kFieldCid:
          bad = ReadCid(value, request, error);
          break;
        case kFieldKind:
          bad = ReadString(value, key, &request->kind);
          break;
        case kFieldBody:
          bad = ReadString(value, key, &request->body);
          break;
        case kFieldSeq:
          bad = ReadNonNegative(value, key, &request->seq);
          break;
        case kFieldBefore:
          bad = ReadNonNegative(value, key, &request->before);
          break;
        case kFieldSeen:
          bad = ReadNonNegative(value, key, &request->seen);
          break;
        case kFieldLimit: {
          int64_t limit;
          if (value.get_int64().get(limit) != simdjson::SUCCESS || limit < 1 ||
              limit > RequestLimits::kMaxHistory) {
            bad = FieldError(
                key, "must be an integer from 1 to " + std::to_string(RequestLimits::kMaxHistory));
          } else {
            request->limit = static_cast<uint32_t>(limit);
          }
          break;
        }
        case kFieldState:
          bad = ReadString(value, key, &state);
          break;
        case kFieldConvs:
          bad = ReadSyncAsks(value, request);
          break;
        case kFieldMentions:
          bad = ParseIdArray(value, &request->mentions, "mentions");
          if (!bad && request->mentions.size() > storage::kMaxExplicitMentions) {
            std::string reason = "has more than ";
            reason += std::to_string(storage::kMaxExplicitMentions);
            reason += " user ids";
            bad = FieldError(key, reason);
          }
          break;
        case kFieldAttachments:
          bad = ReadAttachments(value, request);
          break;
        case kFieldToken:
          bad = ReadString(value, key, &request->token);
          break;
        case kFieldEmoji:
          bad = ReadString(value, key, &request->body);
          break;
        case kFieldOn:
          bad = ReadBool(value, key, &request->reaction_on);
          break;
        case kFieldReplyTo:
          bad = ReadPositiveId(value, key, &request->reply_to,
                               "must be a positive integer (the seq of a message)");
          break;
        case kFieldThread:
          bad = ReadBool(value, key, &request->thread);
          break;
        case kFieldRoot:
          bad = ReadPositiveId(value, key, &request->root,
                               "must be a positive integer (the seq of a thread's root)");
          break;
        case kFieldCall:
          bad = ReadString(value, key, &request->call);
          if (!bad && (request->call.empty() || request->call.size() > RequestLimits::kMaxCallId)) {
            bad = FieldError(key, "must be a call's id");
          }
          break;
        case kFieldCallKind:
          bad = ReadString(value, key, &call_kind);
          break;
        case kFieldTo:
          bad = ReadCallDevice(value, key, &request->to);
          break;
        case kFieldSdp:
        case kFieldCandidate: {
          request->signal_key = kRequestFields[index];
          bool malformed = false;
          bad = ReadSignalPayload(value, key, &request->signal_json, &malformed);
          // The document cannot be read past a fault in its syntax (the cid, if it came first,
          // is known).
          if (malformed) return fail(std::move(fault ? *fault : *bad));
          break;
        }
      }
    }
    if (bad && !fault) fault = std::move(bad);
  }
  if (!AtEnd(doc)) return fail("not JSON");
  if (fault) return fail(std::move(*fault));
  auto has = [&](RequestField field) { return (seen & (uint32_t{1} << field)) != 0; };

  auto need_conv = [&]() { return has(kFieldConv) ? true : fail("missing field \"conv\""); };
  auto need_cid = [&]() {
    if (!has(kFieldCid)) return fail("missing field \"cid\"");
    if (request->cid.empty() || request->cid.size() > RequestLimits::kMaxCid) {
      return fail(
          FieldError("cid", "must be 1 to " + std::to_string(RequestLimits::kMaxCid) + " bytes"));
    }
    return true;
  };
  auto need_body = [&]() {
    if (!has(kFieldBody)) return fail("missing field \"body\"");
    if (has(kFieldEmoji)) return fail(FieldError("emoji", "belongs to a react request"));
    if (request->body.size() > limits_.max_body) {
      return fail("body longer than " + std::to_string(limits_.max_body) + " bytes");
    }
    return true;
  };
  // A change to the message at `seq` (proto/PROTOCOL.md, "Changes to messages"): sent, acked
  // and delivered as a message of the server's kind `kind`. Only an edit keeps a body and
  // mentions (a reaction's body is its emoji); no change carries files.
  auto change = [&](std::string_view kind) {
    request->type = RequestType::kSend;
    if (!need_conv() || !need_cid()) return false;
    if (!has(kFieldSeq)) return fail("missing field \"seq\"");
    if (request->seq <= 0) return fail(FieldError("seq", "must be a positive integer"));
    if (has(kFieldReplyTo) || has(kFieldThread)) {
      return fail(FieldError(has(kFieldReplyTo) ? "reply_to" : "thread", "belongs to a send"));
    }
    request->kind = kind;
    request->target = request->seq;
    if (kind != storage::kEditKind) request->mentions.clear();
    if (kind != storage::kEditKind && kind != storage::kReactionKind) request->body.clear();
    request->attachments.clear();
    return true;
  };
  if (type == "react") {
    if (!change(storage::kReactionKind)) return false;
    if (!has(kFieldEmoji)) return fail("missing field \"emoji\"");
    if (has(kFieldBody)) return fail(FieldError("body", "belongs to a send or an edit"));
    if (!IsOneGrapheme(request->body)) {
      return fail(FieldError("emoji", "must be one character (one grapheme cluster) of at most " +
                                          std::to_string(kMaxReactionBytes) + " bytes"));
    }
    return true;
  }
  if (type == "edit") return change(storage::kEditKind) && need_body();
  if (type == "delete" || type == "pin" || type == "unpin") return change(type);
  if (type == "send") {
    request->type = RequestType::kSend;
    if (!need_conv() || !need_cid() || !need_body()) return false;
    if (!has(kFieldKind)) request->kind = "text";
    if (request->kind.empty() || request->kind.size() > RequestLimits::kMaxKind) {
      return fail("kind must be 1 to 32 bytes");
    }
    if (storage::IsServerWritten(request->kind)) {
      return fail("kind \"" + request->kind + "\" is written by the server only");
    }
    if (request->thread && !has(kFieldReplyTo)) {
      return fail(FieldError("thread", "needs \"reply_to\" (the message whose thread it joins)"));
    }
    return true;
  }
  if (type == "delivered" || type == "read") {
    request->type = type == "read" ? RequestType::kRead : RequestType::kDelivered;
    if (!need_conv()) return false;
    return has(kFieldSeq) ? true : fail("missing field \"seq\"");
  }
  if (type == "sync") {
    request->type = RequestType::kSync;
    request->sync_all = !has(kFieldConvs);
    return true;
  }
  if (type == "history") {
    request->type = RequestType::kHistory;
    return need_conv();
  }
  if (type == "thread" || type == "thread_read") {
    request->type = type == "thread" ? RequestType::kThread : RequestType::kThreadRead;
    if (!need_conv()) return false;
    if (!has(kFieldRoot)) return fail("missing field \"root\"");
    if (request->type == RequestType::kThread) return true;
    return has(kFieldSeq) ? true : fail("missing field \"seq\"");
  }
  if (type == "typing") {
    request->type = RequestType::kTyping;
    if (!need_conv()) return false;
    if (!has(kFieldState) || (state != "start" && state != "stop")) {
      return fail("\"state\" must be \"start\" or \"stop\"");
    }
    request->typing = state == "start";
    return true;
  }
  if (type == "ping") {
    request->type = RequestType::kPing;
    return true;
  }
  if (type.starts_with("call_")) {
    static constexpr std::pair<std::string_view, RequestType> kCallTypes[] = {
        {"call_invite", RequestType::kCallInvite},   {"call_accept", RequestType::kCallAccept},
        {"call_decline", RequestType::kCallDecline}, {"call_cancel", RequestType::kCallCancel},
        {"call_hangup", RequestType::kCallHangUp},   {"call_rejoin", RequestType::kCallRejoin},
        {"call_signal", RequestType::kCallSignal}};
    const auto* found = std::find_if(std::begin(kCallTypes), std::end(kCallTypes),
                                     [&](const auto& entry) { return entry.first == type; });
    if (found == std::end(kCallTypes)) return fail("unknown type \"" + type + "\"");
    request->type = found->second;
    if (!need_cid()) return false;
    if (request->type == RequestType::kCallInvite) {
      if (!need_conv()) return false;
      if (call_kind != "audio" && call_kind != "video") {
        return fail("\"call_kind\" must be \"audio\" or \"video\"");
      }
      request->call_kind = call_kind == "video" ? CallKind::kVideo : CallKind::kAudio;
      return true;
    }
    if (!has(kFieldCall)) return fail("missing field \"call\"");
    if (request->type != RequestType::kCallSignal) return true;
    if (!has(kFieldTo)) return fail("missing field \"to\"");
    if (has(kFieldSdp) == has(kFieldCandidate)) {
      return fail("a call_signal carries one of \"sdp\" and \"candidate\"");
    }
    if (request->signal_json.size() > RequestLimits::kMaxCallSignal) {
      return fail(
          FieldError(request->signal_key,
                     "longer than " + std::to_string(RequestLimits::kMaxCallSignal) + " bytes"));
    }
    return true;
  }
  if (type == "auth") {
    request->type = RequestType::kAuth;
    if (request->token.empty()) return fail("missing field \"token\"");
    return request->token.size() <= auth::kMaxTokenBytes ? true : fail("token too long");
  }
  return fail(type.empty() ? "missing field \"type\"" : "unknown type \"" + type + "\"");
}

bool ValidUsername(std::string_view name) {
  if (name.empty() || name.size() > kMaxUsername) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string> ParseCredentials(std::string_view body, Credentials* out) {
  static constexpr std::string_view kFields[] = {"username", "password"};
  bool has[2] = {false, false};
  auto error = ForEachField(
      body, kFields, [&](int index, ondemand::value value) -> std::optional<std::string> {
        has[index] = true;
        return ReadString(value, kFields[index], index == 0 ? &out->username : &out->password);
      });
  if (error) return error;
  if (!has[0]) return "missing field \"username\"";
  if (!has[1]) return "missing field \"password\"";
  return std::nullopt;
}

std::optional<std::string> ParseRefreshToken(std::string_view body, std::string* out) {
  static constexpr std::string_view kFields[] = {"refresh_token"};
  bool has = false;
  auto error =
      ForEachField(body, kFields, [&](int, ondemand::value value) -> std::optional<std::string> {
        has = true;
        return ReadString(value, kFields[0], out);
      });
  if (error) return error;
  if (!has || out->empty()) return "missing field \"refresh_token\"";
  return std::nullopt;
}

std::optional<std::string> ParseNewConversation(std::string_view body, NewConversation* out) {
  static constexpr std::string_view kFields[] = {"members", "name", "group"};
  bool has_members = false, has_group = false;
  auto error = ForEachField(
      body, kFields, [&](int index, ondemand::value value) -> std::optional<std::string> {
        switch (index) {
          case 0:
            has_members = true;
            return ParseIdArray(value, &out->members, "members");
          case 1: {
            // is_null() yields an error, not false, for a bad atom
            // such as `nul`: converted to bool it would throw
            // simdjson_error, uncaught on a shard thread (a fuzzer
            // finding).
            bool is_null = false;
            if (value.is_null().get(is_null) == simdjson::SUCCESS && is_null) {
              return std::nullopt;
            }
            std::string name;
            if (auto fault = ReadString(value, "name", &name)) return fault;
            out->name = std::move(name);
            return std::nullopt;
          }
          default:
            if (value.get_bool().get(out->group) != simdjson::SUCCESS) {
              return FieldError("group", "must be a boolean");
            }
            has_group = true;
            return std::nullopt;
        }
      });
  if (error) return error;
  if (!has_members) return "missing field \"members\"";
  if (!has_group) out->group = out->members.size() > 1 || out->name.has_value();
  return std::nullopt;
}

std::optional<std::string> ParseMemberList(std::string_view body, std::vector<int64_t>* out) {
  static constexpr std::string_view kFields[] = {"members"};
  bool has_members = false;
  auto error =
      ForEachField(body, kFields, [&](int, ondemand::value value) -> std::optional<std::string> {
        has_members = true;
        return ParseIdArray(value, out, "members");
      });
  if (error) return error;
  if (!has_members || out->empty()) return "members must be a non-empty array of user ids";
  return std::nullopt;
}

std::optional<std::string> ParseMute(std::string_view body, std::optional<int64_t>* until) {
  *until = std::nullopt;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return std::nullopt;
  static constexpr std::string_view kFields[] = {"until"};
  return ForEachField(body, kFields, [&](int, ondemand::value value) -> std::optional<std::string> {
    int64_t ms;
    if (!GetPositiveId(value, &ms)) {
      return FieldError("until",
                        "must be a positive integer (ms since the "
                        "Unix epoch)");
    }
    *until = ms;
    return std::nullopt;
  });
}

std::optional<std::string> ParseMessageChange(std::string_view body, bool edit, size_t max_body,
                                              MessageChangeBody* out) {
  if (!edit && body.find_first_not_of(" \t\r\n") == std::string_view::npos) return std::nullopt;
  static constexpr std::string_view kFields[] = {"body", "mentions", "cid"};
  bool has_body = false;
  auto error = ForEachField(
      body, kFields, [&](int index, ondemand::value value) -> std::optional<std::string> {
        switch (index) {
          case 0:
            has_body = true;
            return ReadString(value, kFields[0], &out->body);
          case 1: {
            auto bad = ParseIdArray(value, &out->mentions, "mentions");
            if (!bad && out->mentions.size() > storage::kMaxExplicitMentions) {
              bad = FieldError(
                  "mentions",
                  "has more than " + std::to_string(storage::kMaxExplicitMentions) + " user ids");
            }
            return bad;
          }
          default:
            if (auto bad = ReadString(value, kFields[2], &out->cid)) return bad;
            if (out->cid.empty() || out->cid.size() > RequestLimits::kMaxCid) {
              return FieldError(
                  "cid", "must be 1 to " + std::to_string(RequestLimits::kMaxCid) + " bytes");
            }
            return std::nullopt;
        }
      });
  if (error) return error;
  if (!edit) {
    out->body.clear();
    out->mentions.clear();
    return std::nullopt;
  }
  if (!has_body) return "missing field \"body\"";
  if (out->body.size() > max_body) {
    return "body longer than " + std::to_string(max_body) + " bytes";
  }
  return std::nullopt;
}

void WriteAvatar(JsonWriter& writer, const std::optional<std::string>& upload) {
  if (upload) {
    writer.Field("avatar", "/files/" + *upload)
        .Field("avatar_thumb", "/files/" + *upload + "/thumb");
  } else {
    writer.Key("avatar").Null().Key("avatar_thumb").Null();
  }
}

void WriteUploadFields(JsonWriter& writer, const storage::UploadRecord& upload) {
  writer.Field("id", upload.id)
      .Field("name", upload.name)
      .Field("size", upload.size)
      .Field("type", upload.type)
      .Field("sha256", upload.sha256)
      .Field("url", std::string("/files/").append(upload.id));
  if (!upload.thumb_sha256.empty()) {
    writer.Field("thumb_url", std::string("/files/").append(upload.id).append("/thumb"));
  }
  if (upload.width > 0) writer.Field("width", upload.width).Field("height", upload.height);
}

std::string EncodeAttachments(const std::vector<std::string>& ids,
                              const std::vector<storage::UploadRecord>& uploads) {
  JsonWriter writer;
  writer.BeginArray();
  for (const std::string& id : ids) {
    for (const storage::UploadRecord& upload : uploads) {
      if (upload.id != id) continue;
      writer.BeginObject();
      WriteUploadFields(writer, upload);
      writer.EndObject();
      break;
    }
  }
  return writer.EndArray().Take();
}

void AppendMessage(JsonWriter& writer, const storage::Message& message) {
  writer.BeginObject();
  storage::AppendMessageFields(writer, message);
  writer.EndObject();
}

std::string EncodeMessageEvent(const storage::Message& message) {
  JsonWriter writer(96 + message.body.size());
  writer.BeginObject().Field("type", "message");
  storage::AppendMessageFields(writer, message);
  return writer.EndObject().Take();
}

std::string EncodeMention(const storage::Message& message) {
  JsonWriter writer(96 + message.body.size());
  writer.BeginObject().Field("type", "mention").Key("message");
  AppendMessage(writer, message);
  return writer.EndObject().Take();
}

std::string EncodeAck(std::string_view cid, const storage::Message& message) {
  JsonWriter writer(96 + cid.size());
  writer.BeginObject()
      .Field("type", "ack")
      .Field("cid", cid)
      .Field("conv", message.conv)
      .Field("id", message.id)
      .Field("seq", message.seq)
      .Field("ts", message.ts)
      .EndObject();
  return writer.Take();
}

std::string EncodeRequestError(const RequestError& error) {
  JsonWriter writer;
  writer.BeginObject()
      .Field("type", "error")
      .Field("code", "bad_request")
      .Field("message", error.message);
  if (!error.cid_json.empty()) writer.Key("cid").Raw(error.cid_json);
  return writer.EndObject().Take();
}

std::string EncodeError(std::string_view code, std::string_view message, std::string_view cid) {
  JsonWriter writer;
  writer.BeginObject().Field("type", "error").Field("code", code).Field("message", message);
  if (!cid.empty()) writer.Field("cid", cid);
  return writer.EndObject().Take();
}

std::string EncodeReceipt(int64_t conv, int64_t user, std::optional<int64_t> delivered,
                          std::optional<int64_t> read) {
  JsonWriter writer;
  writer.BeginObject().Field("type", "receipt").Field("conv", conv).Field("user", user);
  if (delivered) writer.Field("delivered", *delivered);
  if (read) writer.Field("read", *read);
  return writer.EndObject().Take();
}

std::string EncodeTyping(int64_t conv, int64_t user, bool start) {
  JsonWriter writer;
  return writer.BeginObject()
      .Field("type", "typing")
      .Field("conv", conv)
      .Field("user", user)
      .Field("state", start ? "start" : "stop")
      .EndObject()
      .Take();
}

std::string EncodeReconnect(uint32_t after_ms) {
  JsonWriter writer;
  return writer.BeginObject()
      .Field("type", "reconnect")
      .Field("after_ms", int64_t{after_ms})
      .EndObject()
      .Take();
}

std::string EncodePresence(int64_t user, bool online, std::optional<int64_t> last_online) {
  JsonWriter writer;
  writer.BeginObject()
      .Field("type", "presence")
      .Field("user", user)
      .Field("status", online ? "online" : "offline")
      .Key("last_online");
  if (last_online) {
    writer.Int(*last_online);
  } else {
    writer.Null();
  }
  return writer.EndObject().Take();
}

std::string EncodeMembers(const storage::ConversationState& conversation) {
  JsonWriter writer;
  writer.BeginObject().Field("type", "members").Field("conv", conversation.id).Key("name");
  if (conversation.name) {
    writer.String(*conversation.name);
  } else {
    writer.Null();
  }
  writer.Key("topic");
  conversation.topic ? writer.String(*conversation.topic) : writer.Null();
  WriteAvatar(writer, conversation.avatar);
  writer.Field("group", conversation.group).Key("members").BeginArray();
  for (const storage::MemberState& member : conversation.members) writer.Int(member.user);
  writer.EndArray().Key("roles").BeginArray();
  for (const storage::MemberState& member : conversation.members) writer.String(member.role);
  return writer.EndArray().EndObject().Take();
}

bool AppendMessagesWithin(JsonWriter& writer, const std::vector<storage::Message>& messages,
                          uint64_t max_bytes) {
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i > 0 && writer.str().size() >= max_bytes) return false;
    AppendMessage(writer, messages[i]);
  }
  return true;
}

std::string EncodeHistory(int64_t conv, const storage::Page& page, uint64_t max_bytes) {
  JsonWriter writer;
  writer.BeginObject().Field("type", "history").Field("conv", conv).Key("messages").BeginArray();
  bool all = AppendMessagesWithin(writer, page.messages, max_bytes);
  return writer.EndArray().Field("more", page.more || !all).EndObject().Take();
}

std::string EncodeThread(int64_t conv, int64_t root, const storage::ThreadPage& thread,
                         uint64_t max_bytes) {
  JsonWriter writer;
  writer.BeginObject()
      .Field("type", "thread")
      .Field("conv", conv)
      .Field("root", root)
      .Field("read_seq", thread.read_seq)
      .Field("unread", thread.unread)
      .Key("messages")
      .BeginArray();
  bool all = AppendMessagesWithin(writer, thread.page.messages, max_bytes);
  return writer.EndArray().Field("more", thread.page.more || !all).EndObject().Take();
}

std::string EncodeThreadRead(int64_t conv, int64_t root, int64_t read_seq) {
  JsonWriter writer;
  return writer.BeginObject()
      .Field("type", "thread_read")
      .Field("conv", conv)
      .Field("root", root)
      .Field("read_seq", read_seq)
      .EndObject()
      .Take();
}

}  // namespace ringcast::chat
