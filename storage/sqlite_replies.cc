// SqliteChatStore's replies and threads (schema v14; storage/SCHEMA.md, "Replies and threads"):
// the parent's check and the thread root's counts, inside the transaction of the Append that
// stores the reply.
#include "storage/message_kinds.h"
#include "storage/sqlite_chat_store.h"

namespace ringcast::storage {

Status CheckReply(SqliteDb& db, const NewMessage& message, AppendOutcome& out, Message& stored) {
  // A non-member learns nothing about the messages: refused as a send would be.
  auto member =
      db.Prepare("SELECT 1 FROM users_conversations WHERE conversation_id = ?1 AND user_id = ?2");
  member->Bind(message.conv, message.sender);
  Result<bool> is_member = AnySqliteRow(*member);
  if (!is_member.ok()) return is_member.status();
  if (!*is_member) {
    out.denial = Denial::kForbidden;
    return Status();
  }
  auto parent = db.Prepare(
      "SELECT sender_id, deleted_at IS NOT NULL, substr(body, 1, ?3), coalesce(thread_root, seq) "
      "FROM messages WHERE conversation_id = ?1 AND seq = ?2 AND " RINGCAST_ORDINARY_KIND_SQL);
  parent->Bind(message.conv, message.reply_to, kQuoteChars);
  bool found = false;
  Status s = ForEachSqliteRow(*parent, [&](Statement& row) {
    found = true;
    stored.reply_to = message.reply_to;
    stored.quote = Quote{.from = row.ColumnInt64(0),
                         .deleted = row.ColumnInt64(1) != 0,
                         .excerpt = std::string(row.ColumnText(2))};
    if (message.thread) stored.thread_root = row.ColumnInt64(3);
  });
  if (s.ok() && !found) out.denial = Denial::kNotFound;
  return s;
}

Status CountThreadReply(SqliteDb& db, const Message& stored) {
  Status s = db.Run(
      "UPDATE messages SET reply_count = reply_count + 1, last_reply_seq = ?3, "
      "last_reply_at = ?4 WHERE conversation_id = ?1 AND seq = ?2",
      stored.conv, stored.thread_root, stored.seq, stored.ts);
  if (!s.ok()) return s;
  // Its sender has read the thread up to it, as a sender has its conversation.
  return db.Run(
      "INSERT INTO thread_reads(conversation_id, root_seq, user_id, read_seq) "
      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (conversation_id, root_seq, user_id) "
      "DO UPDATE SET read_seq = max(read_seq, excluded.read_seq)",
      stored.conv, stored.thread_root, stored.from, stored.seq);
}

}  // namespace ringcast::storage
