// Reading what was written (proto/PROTOCOL.md, "Sync" and "History"): sync, the store's answer
// for many conversations at once, and history, one conversation's page through its owner (which
// serves recent pages from its cache). Each is answered once; the session's requests behind it
// wait for the answer (SessionHost::FinishAnswer).
// Its requests as read off the wire: chat/ops/history_wire.cc.
#include "chat/ops/op_support.h"
#include "chat/protocol.h"

namespace ringcast::chat::ops {
namespace {

// Every conversation asked for is listed; its messages are what the client asked for minus what
// this connection received live (ConvView), and stop once the answer holds --max-answer-bytes.
std::string EncodeSync(Session& session, const std::vector<storage::SyncConversation>& convs,
                       uint64_t max_bytes) {
  JsonWriter writer;
  writer.BeginObject().Field("type", "sync").Key("convs").BeginArray();
  bool full = false;
  size_t taken = 0;  // An answer always has a message, so paging always moves on.
  for (const storage::SyncConversation& conv : convs) {
    writer.BeginObject()
        .Field("conv", conv.conv)
        .Field("last_seq", conv.last_seq)
        .Field("unread", conv.unread)
        .Field("unread_mentions", conv.unread_mentions)
        .Field("read_seq", conv.read_seq)
        .Key("members")
        .BeginArray();
    for (const storage::MemberState& member : conv.members) {
      writer.BeginObject()
          .Field("user", member.user)
          .Field("delivered", member.delivered)
          .Field("read", member.read)
          .EndObject();
    }
    writer.EndArray().Key("messages").BeginArray();
    auto view = session.convs.find(conv.conv);
    ConvView* seen = view == session.convs.end() ? nullptr : &view->second;
    bool more = conv.more;
    int64_t last = -1;
    for (const storage::Message& message : conv.messages) {
      if (seen != nullptr && !seen->WantsInAnswer(message.seq)) continue;
      if (full || (taken > 0 && writer.str().size() >= max_bytes)) {
        full = more = true;
        break;
      }
      AppendMessage(writer, message);
      ++taken;
      last = message.seq;
    }
    if (seen != nullptr && last >= 0) seen->RecordAnswered(last);
    writer.EndArray().Field("more", more).EndObject();
  }
  return writer.EndArray().EndObject().Take();
}

void RunSync(OpCall call, Request& request) {
  SyncRequest& sync = std::get<SyncRequest>(request);
  if (!sync.all && sync.asks.empty()) return call.session.Send(R"({"type":"sync","convs":[]})");
  const Config& config = call.host.config();
  call.session.answer_outstanding = true;
  call.host.service().store().Sync(
      call.session.user, std::move(sync.asks),
      {.count = config.sync_limit, .bytes = config.max_answer_bytes},
      ReplyTo<std::vector<storage::SyncConversation>>(call, [](SessionHost& host, Session& session,
                                                               auto result) {
        if (!result.ok()) {
          return host.FinishWithError(session.id, "unavailable", "storage unavailable, retry");
        }
        host.FinishAnswer(session.id, EncodeSync(session, *result, host.config().max_answer_bytes));
      }));
}

void RunHistory(OpCall call, Request& request) {
  const HistoryRequest& history = std::get<HistoryRequest>(request);
  if (!CheckMember(call, history.conv)) return;
  if (!call.host.conversations().History(call.session.id, history.conv, call.session.user,
                                         history.page.before, history.page.seen,
                                         history.page.limit)) {
    return call.host.SendError(call.session, "unavailable", "server busy, retry");
  }
  call.session.answer_outstanding = true;
}

constexpr ActionRow kActions[] = {
    {"sync", RunSync},
    {"history", RunHistory},
};

}  // namespace

std::span<const ActionRow> HistoryActions() { return kActions; }

}  // namespace ringcast::chat::ops
