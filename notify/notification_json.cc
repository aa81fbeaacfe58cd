#include "notify/notification_json.h"

#include "proto/json_writer.h"
#include "storage/message_json.h"

namespace ringcast::notify {
namespace {

// A job's document ends with its message: ...,"message":{...}}.
std::string EndWithMessage(JsonWriter& writer, const storage::Message& message) {
  writer.Key("message").BeginObject();
  storage::AppendMessageFields(writer, message);
  return writer.EndObject().EndObject().Take();
}

}  // namespace

std::string NotificationJson(const Notification& n) {
  JsonWriter writer(256 + n.latest_body.size());
  writer.BeginObject()
      .Field("type", "notification")
      .Field("idempotency_key", n.idempotency_key)
      .Key("recipient")
      .BeginObject()
      .Field("id", n.recipient)
      .Field("username", n.recipient_name)
      .EndObject()
      .Key("conversation")
      .BeginObject()
      .Field("id", n.conv)
      .Field("group", n.group)
      .Key("name");
  if (n.conv_name) {
    writer.String(*n.conv_name);
  } else {
    writer.Null();
  }
  writer.EndObject()
      .Field("count", n.count)
      .Field("mention", n.mention)
      .Key("latest")
      .BeginObject()
      .Field("seq", n.latest_seq)
      .Field("from", n.latest_sender)
      .Field("from_username", n.latest_sender_name)
      .Field("kind", n.latest_kind)
      .Field("body", n.latest_body)
      .Field("ts", n.latest_ts)
      .EndObject();
  return writer.EndObject().Take();
}

std::string MessageJobJson(const storage::Message& message) {
  JsonWriter writer(128 + message.body.size());
  writer.BeginObject().Field("type", "message");
  return EndWithMessage(writer, message);
}

std::string MentionJobJson(int64_t user, const storage::Message& message) {
  JsonWriter writer(128 + message.body.size());
  writer.BeginObject().Field("type", "mention").Field("user", user);
  return EndWithMessage(writer, message);
}

}  // namespace ringcast::notify
