// Threads (proto/PROTOCOL.md, "Replies and threads"): a thread's page of replies and the
// reader's watermark in it. Both from the store: the owner's cache of recent messages is by seq,
// not by thread. Not over STOMP.
// Its requests as read off the wire: chat/ops/thread_wire.cc.
#include "chat/ops/op_support.h"
#include "chat/protocol.h"

namespace ringcast::chat::ops {
namespace {

void RunThread(OpCall call, Request& request) {
  const ThreadRequest& thread = std::get<ThreadRequest>(request);
  if (!CheckMember(call, thread.conv)) return;
  call.session.answer_outstanding = true;
  const uint64_t max_bytes = call.host.config().max_answer_bytes;
  call.host.service().store().Thread(
      thread.conv, call.session.user, thread.root, thread.page.before, thread.page.seen,
      {.count = thread.page.limit, .bytes = max_bytes},
      ReplyTo<storage::ThreadPage>(call, [conv = thread.conv, root = thread.root, max_bytes](
                                             SessionHost& host, Session& session, auto result) {
        if (!result.ok()) {
          return host.FinishWithError(session.id, "unavailable", "storage unavailable, retry");
        }
        if (result->page.denial == storage::Denial::kForbidden) {
          return host.FinishWithError(session.id, "forbidden", "not a member of this conversation");
        }
        if (result->page.denial != storage::Denial::kNone) {
          return host.FinishWithError(session.id, "not_found",
                                      "no such thread root (an ordinary message in no thread)");
        }
        host.FinishAnswer(session.id, EncodeThread(conv, root, *result, max_bytes));
      }));
}

// Answered to this connection only: the user's other devices read the watermark with their next
// `thread` request.
void RunThreadRead(OpCall call, Request& request) {
  const ThreadReadRequest& mark = std::get<ThreadReadRequest>(request);
  if (!CheckMember(call, mark.conv)) return;
  call.host.service().store().ThreadRead(
      mark.conv, call.session.user, mark.root, mark.seq,
      ReplyTo<storage::ThreadReadOutcome>(
          call,
          [conv = mark.conv, root = mark.root](SessionHost& host, Session& session, auto result) {
            if (!result.ok()) {
              return host.SendError(session, "unavailable", "storage unavailable, retry");
            }
            if (result->denial != storage::Denial::kNone) {
              return host.SendError(session, "not_found",
                                    "no such thread root (an ordinary message in no thread)");
            }
            session.Send(EncodeThreadRead(conv, root, result->read_seq));
          }));
}

constexpr ActionRow kActions[] = {
    {"thread", RunThread},
    {"thread_read", RunThreadRead},
};

}  // namespace

std::span<const ActionRow> ThreadActions() { return kActions; }

}  // namespace ringcast::chat::ops
