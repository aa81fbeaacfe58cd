// send, and the changes to a message that are sent, acked and delivered as messages of the
// server's kinds (proto/PROTOCOL.md, "Messages" and "Changes to messages"): edit, delete, react,
// pin, unpin. Each goes to the conversation's owner, which sequences and commits it.
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

constexpr ActionRow kActions[] = {
    {"send", RunMessage},  {"edit", RunMessage}, {"delete", RunMessage},
    {"react", RunMessage}, {"pin", RunMessage},  {"unpin", RunMessage},
};

}  // namespace

std::span<const ActionRow> MessageActions() { return kActions; }

}  // namespace ringcast::chat::ops
