// A stored message's fields as JSON, the one encoding of a message that clients (chat/protocol.cc:
// events, history, sync) and operators' workers (notify/notification_json.cc: AMQP jobs) read
// (proto/PROTOCOL.md). Header-only: its users link proto's JsonWriter already; storage does not.
#pragma once

#include <cstdint>

#include "proto/json_writer.h"
#include "storage/chat_store.h"

namespace ringcast::storage {

// Where a message stands among replies (proto/PROTOCOL.md, "Replies and threads"): what it
// answers, with that parent as it is now (a deleted parent's quote has no body), the thread it
// is in, and a root's count and newest reply. A tombstone keeps them: replies stay placed.
inline void AppendThreadFields(JsonWriter& writer, const Message& message) {
  if (message.reply_to != 0) {
    writer.Field("reply_to", message.reply_to);
    if (message.quote) {
      writer.Key("quote").BeginObject().Field("from", message.quote->from);
      if (message.quote->deleted) {
        writer.Field("deleted", true);
      } else {
        writer.Field("body", message.quote->excerpt);
      }
      writer.EndObject();
    }
  }
  if (message.thread_root != 0) writer.Field("thread_root", message.thread_root);
  if (message.reply_count != 0) {
    writer.Field("reply_count", message.reply_count)
        .Field("last_reply_seq", message.last_reply_seq)
        .Field("last_reply_at", message.last_reply_at);
  }
}

// The fields only, inside an object the caller opened.
// A deleted message is its tombstone: who deleted it and when, no body, attachments or mentions
// (proto/PROTOCOL.md, "Changes to messages").
inline void AppendMessageFields(JsonWriter& writer, const Message& message) {
  writer.Field("id", message.id)
      .Field("conv", message.conv)
      .Field("seq", message.seq)
      .Field("from", message.from)
      .Field("kind", message.kind);
  AppendThreadFields(writer, message);
  if (message.deleted_at != 0) {
    writer.Field("ts", message.ts)
        .Field("deleted", true)
        .Field("deleted_by", message.deleted_by)
        .Field("deleted_at", message.deleted_at);
    return;
  }
  writer.Field("body", message.body).Field("ts", message.ts);
  if (message.target != 0) writer.Field("target", message.target);
  if (message.reaction_on >= 0) writer.Field("on", message.reaction_on == 1);
  if (message.edited_at != 0) writer.Field("edited_at", message.edited_at);
  if (message.pinned_at != 0) {
    writer.Field("pinned_at", message.pinned_at).Field("pinned_by", message.pinned_by);
  }
  if (!message.mentions.empty()) {
    writer.Key("mentions").BeginArray();
    for (int64_t user : message.mentions) writer.Int(user);
    writer.EndArray();
  }
  if (!message.attachments.empty()) writer.Key("attachments").Raw(message.attachments);
  if (!message.reactions.empty()) {
    writer.Key("reactions").BeginArray();
    for (const Reaction& reaction : message.reactions) {
      writer.BeginObject()
          .Field("emoji", reaction.emoji)
          .Field("count", static_cast<int64_t>(reaction.users.size()));
      writer.Key("users").BeginArray();
      for (int64_t user : reaction.users) writer.Int(user);
      writer.EndArray().EndObject();
    }
    writer.EndArray();
  }
}

}  // namespace ringcast::storage
