// A message as every SQLite read selects it: the columns (the messages table aliased `m`) and
// their reader, shared by the chat and the notify stores so that every read carries the same
// fields (proto/PROTOCOL.md: a message read back is the message event as it was sent).
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/chat_store.h"
#include "storage/sqlite_db.h"

namespace ringcast::storage {

// The mentioned members come from the mentions table through its index by message (schema v7),
// as "id,id,..." or NULL.
inline constexpr const char* kSqliteMessageColumns =
    "m.id, m.conversation_id, m.seq, m.sender_id, m.kind, m.body, m.sent_at, m.attachments, "
    "(SELECT group_concat(mt.user_id) FROM mentions mt WHERE mt.message_id = m.id), "
    "m.target, m.edited_at, m.deleted_at, m.deleted_by, m.reaction_on, "
    "(SELECT group_concat(r.emoji || char(31) || r.user_id, char(30)) FROM (SELECT emoji, user_id "
    "FROM reactions rr WHERE rr.conversation_id = m.conversation_id AND rr.seq = m.seq "
    "ORDER BY emoji, user_id) r), m.pinned_at, m.pinned_by, m.reply_to, "
    "(SELECT p.sender_id || char(31) || (p.deleted_at IS NOT NULL) || char(31) || "
    "substr(p.body, 1, 100) FROM messages p WHERE p.conversation_id = m.conversation_id "
    "AND p.seq = m.reply_to), m.thread_root, m.reply_count, m.last_reply_seq, m.last_reply_at";
inline constexpr int kSqliteMessageColumnCount = 23;
static_assert(kQuoteChars == 100, "the excerpt's length is written in kSqliteMessageColumns");

inline Message ReadSqliteMessage(Statement& stmt, int first) {
  Message message{.id = stmt.ColumnInt64(first),
                  .conv = stmt.ColumnInt64(first + 1),
                  .seq = stmt.ColumnInt64(first + 2),
                  .from = stmt.ColumnInt64(first + 3),
                  .kind = std::string(stmt.ColumnText(first + 4)),
                  .body = std::string(stmt.ColumnText(first + 5)),
                  .ts = stmt.ColumnInt64(first + 6),
                  .attachments = std::string(stmt.ColumnText(first + 7)),
                  // NULL reads as 0: not a change, never edited, not deleted.
                  .target = stmt.ColumnInt64(first + 9),
                  .edited_at = stmt.ColumnInt64(first + 10),
                  .deleted_at = stmt.ColumnInt64(first + 11),
                  .deleted_by = stmt.ColumnInt64(first + 12),
                  .reaction_on = stmt.ColumnIsNull(first + 13)  ? -1
                                 : stmt.ColumnInt64(first + 13) ? 1
                                                                : 0,
                  .reactions = ParseReactions(stmt.ColumnText(first + 14)),
                  .pinned_at = stmt.ColumnInt64(first + 15),
                  .pinned_by = stmt.ColumnInt64(first + 16),
                  .reply_to = stmt.ColumnInt64(first + 17),
                  .quote = ParseQuote(stmt.ColumnText(first + 18)),
                  .thread_root = stmt.ColumnInt64(first + 19),
                  .reply_count = stmt.ColumnInt64(first + 20),
                  .last_reply_seq = stmt.ColumnInt64(first + 21),
                  .last_reply_at = stmt.ColumnInt64(first + 22)};
  if (!stmt.ColumnIsNull(first + 8)) {
    const std::string_view ids = stmt.ColumnText(first + 8);
    for (size_t at = 0; at < ids.size();) {
      int64_t id = 0;
      const auto [end, error] = std::from_chars(ids.data() + at, ids.data() + ids.size(), id);
      if (error != std::errc()) break;
      message.mentions.push_back(id);
      at = static_cast<size_t>(end - ids.data()) + 1;  // Past the comma.
    }
    std::sort(message.mentions.begin(), message.mentions.end());  // group_concat has no order.
  }
  return message;
}

// Reads the rows of a page (kSqliteMessageColumns first, LIMIT count + 1) into `messages` until
// `count` of them or until `bytes_left` (shared by the pages of one answer) runs out; more: a
// row was left. Stops stepping there, so a page of large messages reads one row more than it
// returns, not the whole LIMIT.
inline Status ReadSqlitePage(Statement& stmt, uint32_t count, uint64_t& bytes_left,
                             std::vector<Message>& messages, bool& more) {
  messages.clear();
  more = false;
  for (;;) {
    switch (stmt.Step()) {
      case StepResult::kRow:
        if (messages.size() == count || bytes_left == 0) {
          more = true;
          return Status();
        }
        messages.push_back(ReadSqliteMessage(stmt, 0));
        bytes_left -= std::min(bytes_left, PageBytes(messages.back()));
        break;
      case StepResult::kDone:
      case StepResult::kError:
        return stmt.status();
    }
  }
}

// A page with a byte budget of its own.
inline Status ReadSqlitePage(Statement& stmt, PageLimit limit, std::vector<Message>& messages,
                             bool& more) {
  uint64_t bytes_left = limit.bytes;
  return ReadSqlitePage(stmt, limit.count, bytes_left, messages, more);
}

}  // namespace ringcast::storage
