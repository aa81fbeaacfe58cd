// send, and the changes to a message that are sent, acked and delivered as messages of the
// server's kinds (proto/PROTOCOL.md, "Messages" and "Changes to messages"): edit, delete, react,
// pin, unpin. Each goes to the conversation's owner, which sequences and commits it. And the marks
// a user keeps on messages for themselves ("Stars"): star, and the page of them, stars.
// What they do: chat/ops/message_ops.cc.
#include "chat/ops/wire.h"
#include "chat/reactions.h"
#include "chat/stomp/stomp_mapping.h"
#include "proto/json_writer.h"
#include "storage/mentions.h"
#include "storage/message_kinds.h"

namespace ringcast::chat::ops {
namespace {
namespace ondemand = simdjson::ondemand;

enum Field : int {
  kConv,
  kKind,
  kBody,
  kSeq,
  kMentions,
  kAttachments,
  kEmoji,
  kOn,
  kReplyTo,
  kThread
};
constexpr std::string_view kFields[] = {"conv",        "kind",  "body", "seq",      "mentions",
                                        "attachments", "emoji", "on",   "reply_to", "thread"};

// A send's files: distinct upload ids (22 base64url characters each).
std::optional<std::string> ReadAttachments(ondemand::value value, MessageRequest* out) {
  const std::string kShape = "must be an array of at most " +
                             std::to_string(RequestLimits::kMaxAttachments) +
                             " distinct upload ids";
  ondemand::array ids;
  if (value.get_array().get(ids) != simdjson::SUCCESS) return FieldError("attachments", kShape);
  for (auto element : ids) {
    std::string_view id;
    if (element.get_string().get(id) != simdjson::SUCCESS || id.size() != 22 ||
        out->attachments.size() == RequestLimits::kMaxAttachments) {
      return FieldError("attachments", kShape);
    }
    for (char c : id) {
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_')) {
        return FieldError("attachments", kShape);
      }
    }
    for (const std::string& seen : out->attachments) {
      if (seen == id) return FieldError("attachments", kShape);
    }
    out->attachments.emplace_back(id);
  }
  return std::nullopt;
}

// The fields of the whole family, read alike; which of them an operation takes is its own check.
bool ReadFields(RequestReader& reader, MessageRequest* out, int64_t* seq) {
  return reader.Fields(
      kFields, [&](int field, ondemand::value value) -> std::optional<std::string> {
        const std::string_view key = kFields[field];
        switch (static_cast<Field>(field)) {
          case kConv:
            return ReadPositiveId(value, key, &out->conv);
          case kKind:
            return ReadString(value, key, &out->kind);
          case kBody:
          case kEmoji:
            return ReadString(value, key, &out->body);
          case kSeq:
            return ReadNonNegative(value, key, seq);
          case kMentions: {
            if (auto fault = ReadIdArray(value, key, &out->mentions)) return fault;
            if (out->mentions.size() <= storage::kMaxExplicitMentions) return std::nullopt;
            return FieldError(key, "has more than " +
                                       std::to_string(storage::kMaxExplicitMentions) + " user ids");
          }
          case kAttachments:
            return ReadAttachments(value, out);
          case kOn:
            return ReadBool(value, key, &out->reaction_on);
          case kReplyTo:
            return ReadPositiveId(value, key, &out->reply_to,
                                  "must be a positive integer (the seq of a message)");
          case kThread:
            return ReadBool(value, key, &out->thread);
        }
        return std::nullopt;
      });
}

bool NeedBody(RequestReader& reader, const MessageRequest& request) {
  if (!reader.Need(kBody, "body")) return false;
  if (reader.Has(kEmoji)) return reader.Fail(FieldError("emoji", "belongs to a react request"));
  if (request.body.size() > reader.limits().max_body) {
    return reader.Fail("body longer than " + std::to_string(reader.limits().max_body) + " bytes");
  }
  return true;
}

bool ParseSend(RequestReader& reader, Request* request) {
  MessageRequest& send = request->emplace<MessageRequest>();
  int64_t seq = 0;
  if (!ReadFields(reader, &send, &seq) || !reader.Need(kConv, "conv") || !reader.NeedCid() ||
      !NeedBody(reader, send)) {
    return false;
  }
  if (!reader.Has(kKind)) send.kind = "text";
  if (send.kind.empty() || send.kind.size() > RequestLimits::kMaxKind) {
    return reader.Fail("kind must be 1 to 32 bytes");
  }
  if (storage::IsServerWritten(send.kind)) {
    return reader.Fail("kind \"" + send.kind + "\" is written by the server only");
  }
  if (send.thread && !reader.Has(kReplyTo)) {
    return reader.Fail(
        FieldError("thread", "needs \"reply_to\" (the message whose thread it joins)"));
  }
  return true;
}

// A change to the message at "seq", as a message of the server's kind `kind`. Only an edit keeps
// a body and mentions (a reaction's body is its emoji); no change carries files.
bool ParseChange(RequestReader& reader, MessageRequest* change, std::string_view kind) {
  int64_t seq = 0;
  if (!ReadFields(reader, change, &seq) || !reader.Need(kConv, "conv") || !reader.NeedCid() ||
      !reader.Need(kSeq, "seq")) {
    return false;
  }
  if (seq <= 0) return reader.Fail(FieldError("seq", "must be a positive integer"));
  if (reader.Has(kReplyTo) || reader.Has(kThread)) {
    return reader.Fail(
        FieldError(reader.Has(kReplyTo) ? "reply_to" : "thread", "belongs to a send"));
  }
  change->kind = kind;
  change->target = seq;
  if (kind != storage::kEditKind) change->mentions.clear();
  if (kind != storage::kEditKind && kind != storage::kReactionKind) change->body.clear();
  change->attachments.clear();
  return true;
}

bool ParseEdit(RequestReader& reader, Request* request) {
  MessageRequest& edit = request->emplace<MessageRequest>();
  return ParseChange(reader, &edit, storage::kEditKind) && NeedBody(reader, edit);
}

bool ParseReact(RequestReader& reader, Request* request) {
  MessageRequest& react = request->emplace<MessageRequest>();
  if (!ParseChange(reader, &react, storage::kReactionKind)) return false;
  if (!reader.Need(kEmoji, "emoji")) return false;
  if (reader.Has(kBody)) return reader.Fail(FieldError("body", "belongs to a send or an edit"));
  if (!IsOneGrapheme(react.body)) {
    return reader.Fail(
        FieldError("emoji", "must be one character (one grapheme cluster) of at most " +
                                std::to_string(kMaxReactionBytes) + " bytes"));
  }
  return true;
}

template <const std::string_view& kKind>
bool ParseMarker(RequestReader& reader, Request* request) {
  return ParseChange(reader, &request->emplace<MessageRequest>(), kKind);
}

enum StarField : int { kStarConv, kStarSeq, kStarOn };
constexpr std::string_view kStarFields[] = {"conv", "seq", "on"};

bool ParseStar(RequestReader& reader, Request* request) {
  StarRequest& star = request->emplace<StarRequest>();
  return reader.Fields(kStarFields,
                       [&](int field, ondemand::value value) -> std::optional<std::string> {
                         switch (static_cast<StarField>(field)) {
                           case kStarConv:
                             return ReadPositiveId(value, "conv", &star.conv);
                           case kStarSeq:
                             return ReadPositiveId(value, "seq", &star.seq);
                           case kStarOn:
                             return ReadBool(value, "on", &star.on);
                         }
                         return std::nullopt;
                       }) &&
         reader.Need(kStarConv, "conv") && reader.Need(kStarSeq, "seq");
}

// "before" (a message id) and "limit", read as a history page's (their places in kPageFields).
constexpr std::string_view kStarsFields[] = {kPageFields[0], kPageFields[2]};
constexpr int kStarsPageField[] = {0, 2};

bool ParseStars(RequestReader& reader, Request* request) {
  StarsRequest& stars = request->emplace<StarsRequest>();
  return reader.Fields(kStarsFields, [&](int field, ondemand::value value) {
    return ReadPageField(kStarsPageField[field], value, &stars.page);
  });
}

// SEND /app/chat.send: the conversation, the message's kind and its body (the frame's).
std::optional<std::string> SendFromStomp(const stomp::Frame& frame, std::string_view cid,
                                         std::string* error) {
  std::optional<int64_t> conv = stomp_map::ConversationHeader(frame, error);
  if (!conv) return std::nullopt;
  JsonWriter request(64 + frame.body.size());
  request.BeginObject().Field("type", "send").Field("conv", *conv).Field("cid", cid);
  if (std::optional<std::string_view> kind = frame.Find("kind")) request.Field("kind", *kind);
  return request.Field("body", frame.body).EndObject().Take();
}

constexpr Wire kWires[] = {
    {.type = "send",
     .parse = ParseSend,
     .stomp_destination = "/app/chat.send",
     .from_stomp = SendFromStomp},
    {.type = "edit", .parse = ParseEdit},
    {.type = "delete", .parse = ParseMarker<storage::kDeleteKind>},
    {.type = "react", .parse = ParseReact},
    {.type = "pin", .parse = ParseMarker<storage::kPinKind>},
    {.type = "unpin", .parse = ParseMarker<storage::kUnpinKind>},
    {.type = "star", .parse = ParseStar},
    {.type = "stars", .parse = ParseStars},
};

}  // namespace

std::span<const Wire> MessageWires() { return kWires; }

}  // namespace ringcast::chat::ops
