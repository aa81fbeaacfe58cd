#include "chat/protocol.h"

#include <charconv>

namespace ringcast::chat {
namespace ondemand = simdjson::ondemand;

namespace {

// Parses `text` into `doc` using `buffer` for the padding simdjson reads past the end.
simdjson::error_code Iterate(ondemand::parser& parser, std::string& buffer, std::string_view text,
                             ondemand::document& doc) {
  buffer.assign(text);
  buffer.resize(text.size() + simdjson::SIMDJSON_PADDING);
  return parser.iterate(buffer.data(), text.size(), buffer.size()).get(doc);
}

// Nothing but whitespace after the value (On Demand stops reading where the caller stops).
bool AtEnd(ondemand::document& doc) {
  return doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
}

bool GetPositiveId(ondemand::value value, int64_t* out) {
  int64_t id;
  if (value.get_int64().get(id) != simdjson::SUCCESS || id <= 0) return false;
  *out = id;
  return true;
}

bool GetString(ondemand::value value, std::string* out) {
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) return false;
  out->assign(text);
  return true;
}

std::optional<std::string> ParseIdArray(ondemand::value value, std::vector<int64_t>* out,
                                        std::string_view field) {
  ondemand::array array;
  if (value.get_array().get(array) != simdjson::SUCCESS) {
    return std::string(field) + " must be an array of user ids";
  }
  for (auto element : array) {
    ondemand::value item;
    int64_t id;
    if (element.get(item) != simdjson::SUCCESS || !GetPositiveId(item, &id)) {
      return std::string(field) + " must be an array of positive integers";
    }
    out->push_back(id);
  }
  return std::nullopt;
}

// Walks the fields of a JSON object body; `on_field(key, value)` returns an error or nullopt.
template <typename OnField>
std::optional<std::string> ForEachField(std::string_view body, OnField on_field) {
  ondemand::parser parser;
  std::string buffer;
  ondemand::document doc;
  ondemand::object object;
  if (Iterate(parser, buffer, body, doc) != simdjson::SUCCESS ||
      doc.get_object().get(object) != simdjson::SUCCESS) {
    return "the body must be a JSON object";
  }
  for (auto field : object) {
    std::string_view key;
    ondemand::value value;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS ||
        field.value().get(value) != simdjson::SUCCESS) {
      return "the body is not valid JSON";
    }
    if (auto error = on_field(key, value)) return error;
  }
  if (!AtEnd(doc)) return "the body is not valid JSON";
  return std::nullopt;
}

}  // namespace

bool RequestParser::Parse(std::string_view text, ClientRequest* request, RequestError* error) {
  *request = ClientRequest{};
  error->cid.clear();
  auto fail = [&](std::string message) {
    error->message = std::move(message);
    return false;
  };
  ondemand::document doc;
  ondemand::object object;
  if (Iterate(parser_, buffer_, text, doc) != simdjson::SUCCESS) return fail("not JSON");
  if (doc.get_object().get(object) != simdjson::SUCCESS) return fail("not a JSON object");

  std::string type;
  bool has_conv = false, has_seq = false, has_body = false, has_state = false;
  bool has_kind = false, has_convs = false;
  std::string state;
  bool malformed = false;
  std::string bad_field;
  for (auto field : object) {
    std::string_view key;
    ondemand::value value;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS ||
        field.value().get(value) != simdjson::SUCCESS) {
      return fail("not JSON");
    }
    bool ok = true;
    if (key == "type") {
      ok = GetString(value, &type);
    } else if (key == "conv") {
      ok = has_conv = GetPositiveId(value, &request->conv);
    } else if (key == "cid") {
      ok = GetString(value, &request->cid);
    } else if (key == "kind") {
      ok = has_kind = GetString(value, &request->kind);
    } else if (key == "body") {
      ok = has_body = GetString(value, &request->body);
    } else if (key == "seq") {
      ok = has_seq = value.get_int64().get(request->seq) == simdjson::SUCCESS && request->seq >= 0;
    } else if (key == "before") {
      ok = value.get_int64().get(request->before) == simdjson::SUCCESS && request->before >= 0;
    } else if (key == "limit") {
      int64_t limit;
      ok = value.get_int64().get(limit) == simdjson::SUCCESS && limit >= 1 &&
           limit <= RequestLimits::kMaxHistory;
      if (ok) request->limit = static_cast<uint32_t>(limit);
    } else if (key == "state") {
      ok = has_state = GetString(value, &state);
    } else if (key == "convs") {
      has_convs = true;
      ondemand::object convs;
      ok = value.get_object().get(convs) == simdjson::SUCCESS;
      if (ok) {
        for (auto entry : convs) {
          std::string_view conv_key;
          int64_t after;
          int64_t conv = 0;
          if (entry.unescaped_key().get(conv_key) != simdjson::SUCCESS ||
              entry.value().get_int64().get(after) != simdjson::SUCCESS || after < 0) {
            ok = false;
            break;
          }
          auto [end, ec] =
              std::from_chars(conv_key.data(), conv_key.data() + conv_key.size(), conv);
          if (ec != std::errc() || end != conv_key.data() + conv_key.size() || conv <= 0) {
            ok = false;
            break;
          }
          request->asks.push_back({conv, after});
        }
        ok = ok && request->asks.size() <= RequestLimits::kMaxSyncConvs;
      }
    }
    if (!ok && !malformed) {
      malformed = true;
      bad_field = std::string(key);
    }
  }
  if (!AtEnd(doc)) return fail("not JSON");
  error->cid = request->cid.size() <= RequestLimits::kMaxCid ? request->cid : std::string();
  if (malformed) return fail("field \"" + bad_field + "\" has the wrong type or range");

  auto need_conv = [&]() { return has_conv ? true : fail("missing field \"conv\""); };
  if (type == "send") {
    request->type = RequestType::kSend;
    if (!need_conv()) return false;
    if (request->cid.empty()) return fail("missing field \"cid\"");
    if (request->cid.size() > RequestLimits::kMaxCid) return fail("cid longer than 64 bytes");
    if (!has_body) return fail("missing field \"body\"");
    if (request->body.size() > limits_.max_body) {
      return fail("body longer than " + std::to_string(limits_.max_body) + " bytes");
    }
    if (!has_kind) request->kind = "text";
    if (request->kind.empty() || request->kind.size() > RequestLimits::kMaxKind) {
      return fail("kind must be 1 to 32 bytes");
    }
    return true;
  }
  if (type == "delivered" || type == "read") {
    request->type = type == "read" ? RequestType::kRead : RequestType::kDelivered;
    if (!need_conv()) return false;
    return has_seq ? true : fail("missing field \"seq\"");
  }
  if (type == "sync") {
    request->type = RequestType::kSync;
    request->sync_all = !has_convs;
    return true;
  }
  if (type == "history") {
    request->type = RequestType::kHistory;
    return need_conv();
  }
  if (type == "typing") {
    request->type = RequestType::kTyping;
    if (!need_conv()) return false;
    if (!has_state || (state != "start" && state != "stop")) {
      return fail("\"state\" must be \"start\" or \"stop\"");
    }
    request->typing = state == "start";
    return true;
  }
  if (type == "ping") {
    request->type = RequestType::kPing;
    return true;
  }
  return fail(type.empty() ? "missing field \"type\"" : "unknown type \"" + type + "\"");
}

std::optional<std::string> ParseCredentials(std::string_view body, Credentials* out) {
  bool has_username = false, has_password = false;
  auto error = ForEachField(
      body, [&](std::string_view key, ondemand::value value) -> std::optional<std::string> {
        if (key == "username") {
          if (!GetString(value, &out->username)) return "username must be a string";
          has_username = true;
        } else if (key == "password") {
          if (!GetString(value, &out->password)) return "password must be a string";
          has_password = true;
        }
        return std::nullopt;
      });
  if (error) return error;
  if (!has_username) return "missing field \"username\"";
  if (!has_password) return "missing field \"password\"";
  return std::nullopt;
}

std::optional<std::string> ParseNewConversation(std::string_view body, NewConversation* out) {
  bool has_members = false, has_group = false;
  auto error = ForEachField(
      body, [&](std::string_view key, ondemand::value value) -> std::optional<std::string> {
        if (key == "members") {
          has_members = true;
          return ParseIdArray(value, &out->members, "members");
        }
        if (key == "name") {
          // is_null() yields an error, not false, for a bad atom such as `nul`: converted to bool
          // it would throw simdjson_error, uncaught on a shard thread (a fuzzer finding).
          bool is_null = false;
          if (value.is_null().get(is_null) == simdjson::SUCCESS && is_null) return std::nullopt;
          std::string name;
          if (!GetString(value, &name)) return "name must be a string";
          out->name = std::move(name);
        } else if (key == "group") {
          if (value.get_bool().get(out->group) != simdjson::SUCCESS)
            return "group must be a boolean";
          has_group = true;
        }
        return std::nullopt;
      });
  if (error) return error;
  if (!has_members) return "missing field \"members\"";
  if (!has_group) out->group = out->members.size() > 1 || out->name.has_value();
  return std::nullopt;
}

std::optional<std::string> ParseMemberList(std::string_view body, std::vector<int64_t>* out) {
  bool has_members = false;
  auto error = ForEachField(
      body, [&](std::string_view key, ondemand::value value) -> std::optional<std::string> {
        if (key != "members") return std::nullopt;
        has_members = true;
        return ParseIdArray(value, out, "members");
      });
  if (error) return error;
  if (!has_members || out->empty()) return "members must be a non-empty array of user ids";
  return std::nullopt;
}

namespace {
void AppendMessageFields(JsonWriter& writer, const storage::Message& message) {
  writer.Field("id", message.id)
      .Field("conv", message.conv)
      .Field("seq", message.seq)
      .Field("from", message.from)
      .Field("kind", message.kind)
      .Field("body", message.body)
      .Field("ts", message.ts);
}
}  // namespace

void AppendMessage(JsonWriter& writer, const storage::Message& message) {
  writer.BeginObject();
  AppendMessageFields(writer, message);
  writer.EndObject();
}

std::string EncodeMessageEvent(const storage::Message& message) {
  JsonWriter writer(96 + message.body.size());
  writer.BeginObject().Field("type", "message");
  AppendMessageFields(writer, message);
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
  writer.Field("group", conversation.group).Key("members").BeginArray();
  for (const storage::MemberState& member : conversation.members) writer.Int(member.user);
  return writer.EndArray().EndObject().Take();
}

std::string EncodeHistory(int64_t conv, const storage::Page& page) {
  JsonWriter writer;
  writer.BeginObject().Field("type", "history").Field("conv", conv).Key("messages").BeginArray();
  for (const storage::Message& message : page.messages) AppendMessage(writer, message);
  return writer.EndArray().Field("more", page.more).EndObject().Take();
}

}  // namespace ringcast::chat
