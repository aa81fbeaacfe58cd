// SqliteChatStore's mentions, mute and notification operations (issue 14; notify/README.md),
// apart from sqlite_chat_store.cc to keep each file to one job. Schema v3
// (sqlite_migrations/v03_mentions.sql).
#include <algorithm>
#include <set>

#include "storage/mentions.h"
#include "storage/message_kinds.h"
#include "storage/sqlite_chat_store.h"
#include "storage/sqlite_message_row.h"

namespace ringcast::storage {

Result<std::set<int64_t>> FindMentioned(SqliteDb& db, int64_t conv, int64_t sender,
                                        const std::vector<int64_t>& ids, std::string_view body,
                                        bool text) {
  std::set<int64_t> mentioned;
  // Explicit ids: kept for members only (others are ignored, as documented in PROTOCOL.md).
  auto member =
      db.Prepare("SELECT 1 FROM users_conversations WHERE conversation_id = ?1 AND user_id = ?2");
  for (int64_t user : ids) {
    if (user == sender || mentioned.contains(user)) continue;
    member->Reset();
    member->Bind(conv, user);
    Result<bool> found = AnySqliteRow(*member);
    if (!found.ok()) return found.status();
    if (*found) mentioned.insert(user);
  }
  if (text) {
    // users.username is COLLATE NOCASE: its unique index finds the name ignoring case.
    auto named = db.Prepare(
        "SELECT u.id FROM users u JOIN users_conversations uc ON uc.user_id = u.id "
        "AND uc.conversation_id = ?1 WHERE u.username = ?2");
    for (const std::string& name : MentionedNames(body)) {
      named->Reset();
      named->Bind(conv, name);
      Status s = ForEachSqliteRow(*named, [&](Statement& row) {
        const int64_t user = row.ColumnInt64(0);
        if (user != sender) mentioned.insert(user);
      });
      if (!s.ok()) return s;
    }
  }
  return mentioned;
}

Status InsertMentions(SqliteDb& db, const std::set<int64_t>& users, const Message& message) {
  auto insert = db.Prepare(
      "INSERT INTO mentions(user_id, message_id, conversation_id, seq) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT DO NOTHING");
  for (int64_t user : users) {
    insert->Bind(user, message.id, message.conv, message.seq);
    if (Status s = insert->Exec(); !s.ok()) return s;
  }
  return Status();
}

Status StoreMentions(SqliteDb& db, const NewMessage& message, Message& stored) {
  Result<std::set<int64_t>> mentioned = FindMentioned(
      db, message.conv, message.sender, message.mentions, message.body, message.kind == "text");
  if (!mentioned.ok()) return mentioned.status();
  if (Status s = InsertMentions(db, *mentioned, stored); !s.ok()) return s;
  stored.mentions.assign(mentioned->begin(), mentioned->end());
  return Status();
}

Result<int64_t> UnreadMentions(SqliteDb& db, int64_t conv, int64_t user, int64_t read_seq) {
  auto stmt = db.Prepare(
      "SELECT count(*) FROM mentions WHERE conversation_id = ?1 AND user_id = ?2 AND seq > ?3");
  stmt->Bind(conv, user, read_seq);
  int64_t count = 0;
  if (Status s = ForEachSqliteRow(*stmt, [&](Statement& row) { count = row.ColumnInt64(0); });
      !s.ok()) {
    return s;
  }
  return count;
}

void SqliteChatStore::ListMentions(int64_t user, int64_t before_id, uint32_t limit,
                                   Reply<MentionPage> reply) {
  // The primary key (user_id, message_id) serves the order and the cursor. A page of mentions
  // counts messages only.
  SubmitUserListPage(
      "FROM mentions mn JOIN messages m ON m.id = mn.message_id "
      "JOIN users_conversations uc ON uc.conversation_id = mn.conversation_id "
      "AND uc.user_id = mn.user_id "
      "WHERE mn.user_id = ?1 AND mn.message_id < ?2 AND m.target IS NULL "
      "ORDER BY mn.message_id DESC LIMIT ?3",
      user, before_id, PageLimit{.count = limit}, std::move(reply));
}

void SqliteChatStore::SetMute(int64_t conv, int64_t user, std::optional<int64_t> until,
                              Reply<Denial> reply) {
  Submit<Denial>(
      Kind::kWrite,
      [conv, user, until](SqliteDb& db, Denial& out) -> Status {
        Status s = db.Run(
            "UPDATE users_conversations SET muted_until = ?3 "
            "WHERE conversation_id = ?1 AND user_id = ?2",
            conv, user, until);
        if (!s.ok()) return s;
        if (db.Changes() > 0) return Status();
        return DenyNonMember(db, conv, out);
      },
      std::move(reply));
}

void SqliteChatStore::DueNotifications(int64_t now_ms, int64_t delay_ms, uint32_t limit,
                                       Reply<std::vector<DueNotification>> reply) {
  Submit<std::vector<DueNotification>>(
      Kind::kRead,
      [now_ms, delay_ms, limit](SqliteDb& db, std::vector<DueNotification>& out) -> Status {
        // Every membership with a message above all three watermarks whose first such message
        // was committed at least delay_ms ago; the window covers what was committed within
        // delay_ms of that first one (DueNotification says why it is computed so).
        auto due = db.Prepare(
            "WITH pending AS ("
            "  SELECT uc.conversation_id AS conv, uc.user_id AS user, "
            "    max(uc.read_seq, uc.delivered_seq, uc.notified_seq) AS mark, uc.muted_until, "
            "    c.name, c.is_group FROM users_conversations uc "
            "  JOIN conversations c ON c.id = uc.conversation_id "
            "  WHERE c.last_seq > uc.read_seq AND c.last_seq > uc.delivered_seq "
            "    AND c.last_seq > uc.notified_seq"
            "), windows AS ("
            "  SELECT p.*, f.sent_at AS first_ts FROM pending p JOIN messages f "
            "    ON f.conversation_id = p.conv AND f.seq = p.mark + 1 WHERE f.sent_at <= ?1 - ?2"
            ") "
            "SELECT w.conv, w.user, w.mark, w.muted_until, w.name, w.is_group, "
            "  (SELECT max(m.seq) FROM messages m WHERE m.conversation_id = w.conv "
            "   AND m.seq > w.mark AND m.sent_at <= w.first_ts + ?2), u.username "
            "FROM windows w JOIN users u ON u.id = w.user ORDER BY w.first_ts LIMIT ?3");
        due->Bind(now_ms, delay_ms, limit);
        Status s = ForEachSqliteRow(*due, [&](Statement& row) {
          DueNotification item;
          item.conv = row.ColumnInt64(0);
          item.user = row.ColumnInt64(1);
          item.watermark = row.ColumnInt64(2);
          item.muted = !row.ColumnIsNull(3) && row.ColumnInt64(3) > now_ms;
          if (!row.ColumnIsNull(4)) item.conv_name = std::string(row.ColumnText(4));
          item.group = row.ColumnInt64(5) != 0;
          item.covered_seq = row.ColumnInt64(6);
          item.username = std::string(row.ColumnText(7));
          out.push_back(std::move(item));
        });
        if (!s.ok()) return s;
        auto mentions = db.Prepare(
            "SELECT count(*) FROM mentions WHERE conversation_id = ?1 AND user_id = ?2 "
            "AND seq > ?3 AND seq <= ?4");
        // Changes to messages (schema v11) are covered, never counted nor shown: the latest is
        // the newest ordinary message of the window when it has one. An edit that newly names
        // a member who had read its target mentions them by the edit's own row (ApplyEdit): that
        // target is counted as a message of the window, and shown when nothing newer is.
        const std::string ordinary_in_window =
            " FROM messages o WHERE o.conversation_id = ?1 AND o.seq > ?3 AND o.seq <= ?2 AND o." +
            std::string(kOrdinaryKindSql);
        const std::string edited_to_mention =
            " FROM mentions mn JOIN messages e ON e.conversation_id = mn.conversation_id AND "
            "e.seq = mn.seq WHERE mn.conversation_id = ?1 AND mn.user_id = ?4 AND mn.seq > ?3 "
            "AND mn.seq <= ?2 AND e.target IS NOT NULL";
        auto count = db.Prepare("SELECT (SELECT count(*)" + ordinary_in_window +
                                ") + (SELECT count(DISTINCT e.target)" + edited_to_mention + ")");
        auto latest = db.Prepare(std::string("SELECT ") + kSqliteMessageColumns +
                                 ", u.username FROM messages m JOIN users u ON u.id = m.sender_id "
                                 "WHERE m.conversation_id = ?1 AND m.seq = coalesce((SELECT "
                                 "max(o.seq)" +
                                 ordinary_in_window + "), (SELECT e.target" + edited_to_mention +
                                 " ORDER BY mn.seq DESC LIMIT 1), ?2)");
        for (DueNotification& item : out) {
          mentions->Reset();
          mentions->Bind(item.conv, item.user, item.watermark, item.covered_seq);
          s = ForEachSqliteRow(*mentions,
                               [&](Statement& row) { item.mentions = row.ColumnInt64(0); });
          if (!s.ok()) return s;
          count->Reset();
          count->Bind(item.conv, item.covered_seq, item.watermark, item.user);
          s = ForEachSqliteRow(*count, [&](Statement& row) { item.count = row.ColumnInt64(0); });
          if (!s.ok()) return s;
          latest->Reset();
          latest->Bind(item.conv, item.covered_seq, item.watermark, item.user);
          s = ForEachSqliteRow(*latest, [&](Statement& row) {
            item.latest = ReadSqliteMessage(row, 0);
            item.latest_sender_name = std::string(row.ColumnText(kSqliteMessageColumnCount));
          });
          if (!s.ok()) return s;
        }
        return Status();
      },
      std::move(reply));
}

void SqliteChatStore::MarkNotified(int64_t conv, int64_t user, int64_t seq, Reply<bool> reply) {
  Submit<bool>(
      Kind::kSingleWrite,
      [conv, user, seq](SqliteDb& db, bool& out) -> Status {
        Status s = db.Run(
            "UPDATE users_conversations SET notified_seq = ?3 "
            "WHERE conversation_id = ?1 AND user_id = ?2 AND notified_seq < ?3",
            conv, user, seq);
        if (!s.ok()) return s;
        out = db.Changes() > 0;
        return Status();
      },
      std::move(reply));
}

}  // namespace ringcast::storage
