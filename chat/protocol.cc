#include "chat/protocol.h"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <utility>

#include "chat/json_body.h"
#include "storage/mentions.h"
#include "storage/message_json.h"
#include "storage/message_kinds.h"

namespace ringcast::chat {
namespace ondemand = simdjson::ondemand;

namespace {

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

// A user's presence as the presence event and hello's `presence` items both write it.
void WritePresenceFields(JsonWriter& writer, int64_t user, bool online,
                         std::optional<int64_t> last_online) {
  writer.Field("user", user).Field("status", online ? "online" : "offline").Key("last_online");
  last_online ? writer.Int(*last_online) : writer.Null();
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
            return ReadIdArray(value, "members", &out->members);
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
        return ReadIdArray(value, "members", out);
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
    if (auto fault = ReadPositiveId(value, "until", &ms,
                                    "must be a positive integer (ms since the Unix epoch)")) {
      return fault;
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
            auto bad = ReadIdArray(value, "mentions", &out->mentions);
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
  writer.BeginObject().Field("type", "presence");
  WritePresenceFields(writer, user, online, last_online);
  return writer.EndObject().Take();
}

std::string EncodeHello(const Hello& hello) {
  JsonWriter writer;
  writer.BeginObject()
      .Field("type", "hello")
      .Field("user", hello.user)
      .Field("instance", hello.instance)
      .Field("expires_at", hello.expires_at)
      .Field("device", int64_t(hello.device))
      .Key("ringing")
      .BeginArray();
  for (std::string_view ring : hello.ringing) writer.Raw(ring);
  writer.EndArray().Key("presence").BeginArray();
  for (const Hello::Contact& contact : hello.presence) {
    writer.BeginObject();
    WritePresenceFields(writer, contact.user, contact.online, contact.last_online);
    writer.EndObject();
  }
  return writer.EndArray().EndObject().Take();
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
