// SqliteChatStore's changes to messages (schema v11; storage/SCHEMA.md, "Changes to messages"):
// the checks and the target's new state, inside the transaction of the Append that stores the
// change's own row.
#include <set>

#include "storage/message_changes.h"
#include "storage/sqlite_chat_store.h"

namespace ringcast::storage {

Status CheckChange(SqliteDb& db, const NewMessage& message, AppendOutcome& out,
                   ChangeTarget& target) {
  // A non-member learns nothing about the messages: refused as a send would be.
  auto member = db.Prepare(
      "SELECT role FROM users_conversations WHERE conversation_id = ?1 AND user_id = ?2");
  member->Bind(message.conv, message.sender);
  bool is_member = false;
  std::string role;
  Status m = ForEachSqliteRow(*member, [&](Statement& row) {
    is_member = true;
    role = row.ColumnText(0);
  });
  if (!m.ok()) return m;
  if (!is_member) {
    out.denial = Denial::kForbidden;
    return Status();
  }
  auto find = db.Prepare(
      "SELECT id, sender_id, sent_at, kind, deleted_at IS NOT NULL FROM messages "
      "WHERE conversation_id = ?1 AND seq = ?2 AND target IS NULL");
  find->Bind(message.conv, message.target);
  bool found = false, deleted = false;
  Status s = ForEachSqliteRow(*find, [&](Statement& row) {
    found = true;
    target = ChangeTarget{.id = row.ColumnInt64(0),
                          .author = row.ColumnInt64(1),
                          .sent_at = row.ColumnInt64(2),
                          .text = row.ColumnText(3) == "text",
                          .call = row.ColumnText(3) == kCallKind};
    deleted = row.ColumnInt64(4) != 0;
  });
  if (!s.ok()) return s;
  const bool edit = message.kind == kEditKind;
  if (!found) {
    out.denial = Denial::kNotFound;
  } else if (deleted) {
    out.denial = Denial::kGone;
  } else if (message.kind == kPinKind) {
    // Any member pins; a new pin only while the conversation has fewer than the limit.
    auto count = db.Prepare(
        "SELECT count(*), coalesce(sum(seq = ?2), 0) FROM messages "
        "WHERE conversation_id = ?1 AND pinned_at IS NOT NULL");
    count->Bind(message.conv, message.target);
    Status c = ForEachSqliteRow(*count, [&](Statement& row) {
      if (row.ColumnInt64(1) == 0 && row.ColumnInt64(0) >= int64_t{message.max_pins}) {
        out.denial = Denial::kTooManyPins;
      }
    });
    if (!c.ok()) return c;
  } else if (message.kind == kUnpinKind) {
    return Status();  // Any member; unpinning what is not pinned changes nothing.
  } else if (message.kind == kReactionKind) {
    // Any member reacts; a new emoji only while the message has fewer than the limit.
    if (!message.reaction_on) return Status();
    auto count = db.Prepare(
        "SELECT count(DISTINCT emoji), coalesce(sum(emoji = ?3), 0) FROM reactions "
        "WHERE conversation_id = ?1 AND seq = ?2");
    count->Bind(message.conv, message.target, message.body);
    Status c = ForEachSqliteRow(*count, [&](Statement& row) {
      if (row.ColumnInt64(1) == 0 && row.ColumnInt64(0) >= int64_t{message.max_reactions}) {
        out.denial = Denial::kTooMany;
      }
    });
    if (!c.ok()) return c;
  } else if (edit ? !MayEdit(target.author, message.sender) || target.call
                  : !MayDelete(target.author, message.sender, role)) {
    out.denial = Denial::kNotAuthor;
  } else if (edit && message.edit_window_ms > 0 &&
             message.ts - target.sent_at > message.edit_window_ms) {
    out.denial = Denial::kTooLate;
  }
  return Status();
}

namespace {

Status ApplyEdit(SqliteDb& db, const NewMessage& message, const ChangeTarget& target,
                 Message& stored) {
  Status s = db.Run("UPDATE messages SET body = ?2, edited_at = ?3 WHERE id = ?1", target.id,
                    message.body, message.ts);
  if (!s.ok()) return s;
  // The target's mentions become those of its new body. The members it names for the first time
  // get the `mention` event (stored.mentions); those who have read past the target are also
  // mentioned by the edit's own row, so that the mention counts as unread for them once (for
  // the others the target's row does).
  std::set<int64_t> before;
  auto old = db.Prepare("SELECT user_id FROM mentions WHERE message_id = ?1");
  old->Bind(target.id);
  s = ForEachSqliteRow(*old, [&](Statement& row) { before.insert(row.ColumnInt64(0)); });
  if (!s.ok()) return s;
  Result<std::set<int64_t>> after =
      FindMentioned(db, message.conv, message.sender, message.mentions, message.body, target.text);
  if (!after.ok()) return after.status();
  if (Status c = db.Run("DELETE FROM mentions WHERE message_id = ?1", target.id); !c.ok()) return c;
  const Message changed{.id = target.id, .conv = message.conv, .seq = message.target};
  if (Status i = InsertMentions(db, *after, changed); !i.ok()) return i;
  std::set<int64_t> added, read_past;
  auto read = db.Prepare(
      "SELECT 1 FROM users_conversations WHERE conversation_id = ?1 AND user_id = ?2 "
      "AND read_seq >= ?3");
  for (int64_t user : *after) {
    if (before.contains(user)) continue;
    added.insert(user);
    read->Reset();
    read->Bind(message.conv, user, message.target);
    s = ForEachSqliteRow(*read, [&](Statement&) { read_past.insert(user); });
    if (!s.ok()) return s;
  }
  if (Status i = InsertMentions(db, read_past, stored); !i.ok()) return i;
  stored.mentions.assign(added.begin(), added.end());
  return Status();
}

// Idempotent: adding a reaction twice leaves one, taking away one that is not there is no error.
Status ApplyReaction(SqliteDb& db, const NewMessage& message, Message& stored) {
  stored.reaction_on = message.reaction_on ? 1 : 0;
  const char* sql = message.reaction_on
                        ? "INSERT OR IGNORE INTO reactions(conversation_id, seq, emoji, "
                          "user_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)"
                        : "DELETE FROM reactions WHERE conversation_id = ?1 AND seq = ?2 "
                          "AND emoji = ?3 AND user_id = ?4 AND ?5 IS NOT NULL";
  return db.Run(sql, message.conv, message.target, message.body, message.sender, message.ts);
}

// Idempotent both ways: pinning a pinned message keeps its first pin.
Status ApplyPin(SqliteDb& db, const NewMessage& message, const ChangeTarget& target) {
  const char* sql = message.kind == kPinKind
                        ? "UPDATE messages SET pinned_at = ?2, pinned_by = ?3 "
                          "WHERE id = ?1 AND pinned_at IS NULL"
                        : "UPDATE messages SET pinned_at = NULL, pinned_by = NULL "
                          "WHERE id = ?1 AND ?2 IS NOT NULL AND ?3 IS NOT NULL";
  return db.Run(sql, target.id, message.ts, message.sender);
}

Status ApplyDelete(SqliteDb& db, const NewMessage& message, const ChangeTarget& target) {
  // Nothing of what it said stays: its body, files, mentions and reactions, and the bodies of
  // its edits.
  Status s = db.Run("DELETE FROM reactions WHERE conversation_id = ?1 AND seq = ?2", message.conv,
                    message.target);
  if (!s.ok()) return s;
  s = db.Run(
      "UPDATE messages SET body = '', attachments = '', deleted_at = ?2, deleted_by = ?3, "
      "pinned_at = NULL, pinned_by = NULL WHERE id = ?1",
      target.id, message.ts, message.sender);
  if (!s.ok()) return s;
  s = db.Run(
      "UPDATE messages SET body = '' WHERE conversation_id = ?1 AND target = ?2 AND kind = 'edit'",
      message.conv, message.target);
  if (!s.ok()) return s;
  s = db.Run(
      "DELETE FROM mentions WHERE message_id = ?1 OR message_id IN (SELECT id FROM messages "
      "WHERE conversation_id = ?2 AND target = ?3)",
      target.id, message.conv, message.target);
  if (!s.ok()) return s;
  // Its files: the members' access goes with the rows; an upload no other message carries (and
  // that is nobody's avatar) goes too, which frees its uploader's quota.
  auto files =
      db.Prepare("DELETE FROM message_attachments WHERE message_id = ?1 RETURNING upload_id");
  files->Bind(target.id);
  std::set<std::string> uploads;
  s = ForEachSqliteRow(*files,
                       [&](Statement& row) { uploads.insert(std::string(row.ColumnText(0))); });
  if (!s.ok()) return s;
  auto release = db.Prepare(
      "DELETE FROM uploads WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM message_attachments a "
      "WHERE a.upload_id = ?1) AND NOT EXISTS (SELECT 1 FROM users p WHERE p.avatar_upload = ?1) "
      "RETURNING sha256, thumb_sha256");
  std::set<std::string> hashes;
  for (const std::string& upload : uploads) {
    release->Reset();
    release->Bind(upload);
    Status r = ForEachSqliteRow(*release, [&](Statement& row) {
      for (int column : {0, 1}) {
        if (!row.ColumnText(column).empty()) hashes.insert(std::string(row.ColumnText(column)));
      }
    });
    if (!r.ok()) return r;
  }
  // Their files go with the upload sweeper's next pass (chat/upload_sweeper.h), which removes
  // those no other upload names.
  auto queue = db.Prepare("INSERT OR IGNORE INTO released_files(sha256) VALUES (?1)");
  for (const std::string& hash : hashes) {
    queue->Reset();
    queue->Bind(hash);
    if (Status q = queue->Exec(); !q.ok()) return q;
  }
  return Status();
}

}  // namespace

Status ApplyChange(SqliteDb& db, const NewMessage& message, const ChangeTarget& target,
                   Message& stored) {
  stored.target = message.target;
  if (message.kind == kEditKind) return ApplyEdit(db, message, target, stored);
  if (message.kind == kReactionKind) return ApplyReaction(db, message, stored);
  if (message.kind == kPinKind || message.kind == kUnpinKind) return ApplyPin(db, message, target);
  return ApplyDelete(db, message, target);
}

}  // namespace ringcast::storage
