// send, and the changes to a message that are sent, acked and delivered as messages of the
// server's kinds (proto/PROTOCOL.md, "Messages" and "Changes to messages"): edit, delete, react,
// pin, unpin. Each goes to the conversation's owner, which sequences and commits it. And the marks
// a user keeps on messages for themselves ("Stars"), straight from the store: no one else hears of
// them, so no owner orders them. Both are answered in turn, as a history is.
// Its requests as read off the wire: chat/ops/message_wire.cc.
#include "chat/ops/op_support.h"
#include "chat/protocol.h"

namespace ringcast::chat::ops {
namespace {

// To the conversation's owner; the owner is --max-mail-backlog mails behind: answered as a store
// failure is, so that the client resends it (the cid makes that safe).
void ToOwner(SessionHost& host, Session& session, storage::NewMessage message) {
  std::string cid = message.cid;
  if (!host.conversations().Send(session.id, std::move(message))) {
    host.SendError(session, "unavailable", "server busy, retry", cid);
  }
}

// Files: only the sender's own uploads, attached within --upload-orphan-ttl or never (past it the
// sweep may delete them: chat/upload_sweeper.h). A store read first, so such a send may be acked
// after a later one without files (clients match acks by cid); their metadata goes with it.
void AttachThenSend(OpCall call, storage::NewMessage message) {
  std::vector<std::string> ids = message.attachment_ids;
  call.host.service().store().FindOwnedUploads(
      call.session.user, std::move(ids),
      ReplyTo<std::vector<storage::UploadRecord>>(call, [message = std::move(message)](
                                                            SessionHost& host, Session& session,
                                                            auto result) mutable {
        if (!result.ok()) {
          return host.SendError(session, "unavailable", "storage unavailable, retry", message.cid);
        }
        if (result->size() != message.attachment_ids.size()) {
          return host.SendError(session, "bad_request", "attachments must be your own uploads",
                                message.cid);
        }
        const int64_t ttl_ms = int64_t{host.config().upload_orphan_ttl_s} * 1000;
        for (const storage::UploadRecord& record : *result) {
          if (ttl_ms > 0 && record.created < NowMs() - ttl_ms) {
            return host.SendError(session, "bad_request",
                                  "attachment expired (--upload-orphan-ttl): upload it again",
                                  message.cid);
          }
        }
        message.attachments = EncodeAttachments(message.attachment_ids, *result);
        ToOwner(host, session, std::move(message));
      }));
}

void RunMessage(OpCall call, Request& request) {
  MessageRequest& ask = std::get<MessageRequest>(request);
  if (!CheckMember(call, ask.conv, call.cid)) return;
  ++call.host.metrics().sends;
  const Config& config = call.host.config();
  storage::NewMessage message{.conv = ask.conv,
                              .sender = call.session.user,
                              .cid = std::string(call.cid),
                              .kind = std::move(ask.kind),
                              .body = std::move(ask.body),
                              .ts = NowMs(),
                              .mentions = std::move(ask.mentions),
                              .target = ask.target,
                              .edit_window_ms = int64_t{config.edit_window_s} * 1000,
                              .reaction_on = ask.reaction_on,
                              .max_reactions = config.max_reactions,
                              .max_pins = config.max_pins,
                              .reply_to = ask.reply_to,
                              .thread = ask.thread};
  if (ask.attachments.empty()) return ToOwner(call.host, call.session, std::move(message));
  message.attachment_ids = std::move(ask.attachments);
  AttachThenSend(call, std::move(message));
}

std::string EncodeStarred(const StarRequest& star) {
  JsonWriter writer;
  return writer.BeginObject()
      .Field("type", "starred")
      .Field("conv", star.conv)
      .Field("seq", star.seq)
      .Field("on", star.on)
      .EndObject()
      .Take();
}

void RunStar(OpCall call, Request& request) {
  const StarRequest& star = std::get<StarRequest>(request);
  if (!CheckMember(call, star.conv)) return;
  call.session.answer_outstanding = true;
  call.host.service().store().SetStar(
      call.session.user, star.conv, star.seq, star.on, NowMs(),
      ReplyTo<storage::Denial>(call, [star](SessionHost& host, Session& session, auto result) {
        if (!result.ok()) {
          return host.FinishWithError(session.id, "unavailable", "storage unavailable, retry");
        }
        switch (*result) {
          case storage::Denial::kNone:
            return host.FinishAnswer(session.id, EncodeStarred(star));
          case storage::Denial::kGone:
            return host.FinishWithError(session.id, "gone", "the message is deleted");
          case storage::Denial::kNotFound:
            return host.FinishWithError(session.id, "not_found",
                                        "no such message in this conversation (or a change)");
          default:
            return host.FinishWithError(session.id, "forbidden",
                                        "not a member of this conversation");
        }
      }));
}

void RunStars(OpCall call, Request& request) {
  const StarsRequest& stars = std::get<StarsRequest>(request);
  call.session.answer_outstanding = true;
  const uint64_t max_bytes = call.host.config().max_answer_bytes;
  call.host.service().store().ListStars(
      call.session.user, stars.page.before, {.count = stars.page.limit, .bytes = max_bytes},
      ReplyTo<storage::Page>(call, [max_bytes](SessionHost& host, Session& session, auto result) {
        if (!result.ok()) {
          return host.FinishWithError(session.id, "unavailable", "storage unavailable, retry");
        }
        JsonWriter writer;
        writer.BeginObject().Field("type", "stars").Key("messages").BeginArray();
        const bool all = AppendMessagesWithin(writer, result->messages, max_bytes);
        host.FinishAnswer(session.id,
                          writer.EndArray().Field("more", result->more || !all).EndObject().Take());
      }));
}

constexpr ActionRow kActions[] = {
    {"send", RunMessage}, {"edit", RunMessage},  {"delete", RunMessage}, {"react", RunMessage},
    {"pin", RunMessage},  {"unpin", RunMessage}, {"star", RunStar},      {"stars", RunStars},
};

}  // namespace

std::span<const ActionRow> MessageActions() { return kActions; }

}  // namespace ringcast::chat::ops
