// SqliteChatStore's appends (sqlite_chat_store.h), apart from sqlite_chat_store.cc to keep each
// file to one job: a message, or a change to one (its checks and effects:
// sqlite_message_changes.cc), on the writer; and the newest (sender, cid)s kept in memory that find
// a resend (recent_cids.h).
#include <algorithm>

#include "storage/await_reply.h"
#include "storage/mentions.h"
#include "storage/message_kinds.h"
#include "storage/sqlite_chat_store.h"
#include "storage/sqlite_message_row.h"

namespace ringcast::storage {
namespace {

// A message's target, reply_to and thread_root columns hold NULL for none, which the store's
// types say with 0.
std::optional<int64_t> NullIfZero(int64_t value) {
  return value != 0 ? std::optional(value) : std::nullopt;
}

// A reaction's reaction_on column (1: on, 0: off); NULL for any other kind. A function of its
// own, like NullIfZero: GCC 12 at -O2 takes a local optional<bool> that Bind reads for
// uninitialized (-Wmaybe-uninitialized, a false positive).
std::optional<int64_t> ReactionOn(const NewMessage& message) {
  if (message.kind != kReactionKind) return std::nullopt;
  return message.reaction_on ? 1 : 0;
}

}  // namespace

Status SqliteChatStore::LoadRecentCids() {
  // On the writer (no append runs before it), waited for: the main thread at start.
  Result<bool> loaded = AwaitReply<bool>([this](Reply<bool> reply) {
    Submit<bool>(
        Kind::kWrite,
        [this](SqliteDb& db, bool&) -> Status {
          auto stmt = db.Prepare(
              "SELECT m.sender_id, m.client_msg_id, m.id FROM messages m "
              "WHERE m.id >= (SELECT value FROM meta WHERE key = 'cids_merged_below') "
              "AND m.client_msg_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM message_cids c "
              "WHERE c.sender_id = m.sender_id AND c.client_msg_id = m.client_msg_id)");
          return ForEachSqliteRow(*stmt, [&](Statement& row) {
            recent_cids_.Add(row.ColumnInt64(0), std::string(row.ColumnText(1)),
                             row.ColumnInt64(2));
          });
        },
        std::move(reply));
  });
  return loaded.ok() ? Status() : loaded.status();
}

Status SqliteChatStore::FindResend(SqliteDb& db, const NewMessage& message, AppendOutcome& out) {
  auto read = [&](Statement& stmt) {
    return ForEachSqliteRow(stmt, [&](Statement& row) {
      out.duplicate = true;
      out.message = ReadSqliteMessage(row, 0);
    });
  };
  if (std::optional<int64_t> id = recent_cids_.Find(message.sender, message.cid)) {
    auto recent = db.Prepare(std::string("SELECT ") + kSqliteMessageColumns +
                             " FROM messages m WHERE m.id = ?1 AND m.sender_id = ?2 "
                             "AND m.client_msg_id = ?3");
    recent->Bind(*id, message.sender, message.cid);
    if (Status s = read(*recent); !s.ok() || out.duplicate) return s;
    recent_cids_.Forget(message.sender, message.cid, *id);  // Its append was rolled back.
  }
  auto merged = db.Prepare(std::string("SELECT ") + kSqliteMessageColumns +
                           " FROM message_cids c JOIN messages m ON m.id = c.message_id "
                           "WHERE c.sender_id = ?1 AND c.client_msg_id = ?2");
  merged->Bind(message.sender, message.cid);
  return read(*merged);
}

void SqliteChatStore::MergeRecentCidsIfDue() {
  if (recent_cids_.size() < recent_cids_max_ || merge_queued_.exchange(true)) return;
  struct Merge {
    bool chosen = false;
    std::vector<RecentCids::Entry> chunk;
  };
  auto merge = std::make_shared<Merge>();
  JobFn run = [this, merge](SqliteDb& db) -> Status {
    if (!merge->chosen) {  // A job may run again after a failed batch: the same chunk.
      merge->chosen = true;
      // Behind (appends queued ahead of the merge ran in its batch): catch up in one go.
      const size_t held = recent_cids_.size();
      merge->chunk = recent_cids_.NextChunk(
          std::max(kCidMergeChunk, held > recent_cids_max_ ? held - recent_cids_max_ : 0));
    }
    // Checked against the row: an entry whose append was rolled back names nothing.
    auto insert = db.Prepare(
        "INSERT OR IGNORE INTO message_cids(sender_id, client_msg_id, message_id) "
        "SELECT sender_id, client_msg_id, id FROM messages "
        "WHERE id = ?3 AND sender_id = ?1 AND client_msg_id = ?2");
    for (const RecentCids::Entry& entry : merge->chunk) {
      insert->Reset();
      insert->Bind(entry.sender, entry.cid, entry.id);
      if (Status s = insert->Exec(); !s.ok()) return s;
    }
    auto mark = db.Prepare(
        "UPDATE meta SET value = coalesce(?1, (SELECT coalesce(max(id), 0) + 1 FROM messages)) "
        "WHERE key = 'cids_merged_below'");
    if (std::optional<int64_t> lowest = recent_cids_.LowestIdBesides(merge->chunk)) {
      mark->Bind(*lowest);
    }
    return mark->Exec();
  };
  DoneFn done = [this, merge](Status status) {
    if (status.ok()) {
      recent_cids_.Merged(merge->chunk);
      cids_merged_.fetch_add(merge->chunk.size(), std::memory_order_relaxed);
    }
    merge_queued_.store(false, std::memory_order_release);
  };
  if (executor_->SubmitUpkeep(std::move(run), std::move(done)) != Admission::kQueued) {
    merge_queued_.store(false, std::memory_order_release);  // The next append asks again.
  }
}

void SqliteChatStore::Append(NewMessage message, Reply<AppendOutcome> reply) {
  // One INSERT (or none, for a duplicate or an outsider): no savepoint needed, unless the
  // message may mention someone (then the mentions are stored in the same transaction), or
  // carries files (their rows too).
  const bool may_mention = MayMention(message);
  const bool several = may_mention || !message.attachment_ids.empty() || message.target != 0 ||
                       message.reply_to != 0;
  // After the commit: the search index adds it within --search-index-interval-ms.
  reply = [this, reply = std::move(reply)](Result<AppendOutcome> result) mutable {
    if (result.ok() && result->message.id != 0) search_index_->NoteAppended(result->message.id);
    reply(std::move(result));
  };
  Submit<AppendOutcome>(
      several ? Kind::kWrite : Kind::kSingleWrite,
      [this, message = std::move(message), may_mention](SqliteDb& db,
                                                        AppendOutcome& out) -> Status {
        if (recent_cids_.size() >= 2 * size_t{recent_cids_max_}) {
          // Merges keep failing (the disk, the WAL's cap): what is held stays bounded. Only an
          // append asks for a merge, so a refused one still does, or nothing ever would again.
          MergeRecentCidsIfDue();
          return Status(Errc::kUnavailable,
                        "not run: the cids of recent messages wait to be merged");
        }
        if (Status s = FindResend(db, message, out); !s.ok() || out.duplicate) return s;
        ChangeTarget target;
        if (message.target != 0) {
          Status s = CheckChange(db, message, out, target);
          if (!s.ok() || out.denial != Denial::kNone) return s;
        }
        Message reply_part;  // reply_to, quote, thread_root.
        if (message.reply_to != 0) {
          Status s = CheckReply(db, message, out, reply_part);
          if (!s.ok() || out.denial != Denial::kNone) return s;
        }
        // seq is assigned here, at the writer, in the order the owner shard submitted: a
        // refused or duplicate send never takes a number, so seq stays gap-free. A 1:1 where
        // either member blocks the other refuses it as a non-member's (schema v10, "blocks":
        // two primary-key probes, and none for a group). A call's record is the server's
        // account of a call that the membership and the blocks allowed when it began: taken
        // whatever changed since (a block that ended it, its caller removed from the group).
        auto insert = db.Prepare(
            "INSERT INTO messages(conversation_id, seq, sender_id, kind, body, sent_at, "
            "client_msg_id, attachments, target, reaction_on, reply_to, thread_root) "
            "SELECT c.id, c.last_seq + 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 "
            "FROM conversations c WHERE c.id = ?1 AND (?3 = '" RINGCAST_CALL_KIND_SQL
            "' OR ("
            "EXISTS (SELECT 1 FROM users_conversations uc WHERE uc.conversation_id = c.id AND "
            "uc.user_id = ?2) AND (c.is_group = 1 OR NOT EXISTS (SELECT 1 FROM "
            "users_conversations o WHERE o.conversation_id = c.id AND o.user_id <> ?2 AND ("
            "EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = ?2 AND b.blocked = o.user_id) OR "
            "EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = o.user_id AND b.blocked = ?2)))))) "
            "RETURNING id, seq");
        insert->Bind(message.conv, message.sender, message.kind, message.body, message.ts,
                     message.cid, message.attachments, NullIfZero(message.target),
                     ReactionOn(message), NullIfZero(reply_part.reply_to),
                     NullIfZero(reply_part.thread_root));
        bool inserted = false;
        Status s = ForEachSqliteRow(*insert, [&](Statement& row) {
          inserted = true;
          out.message = message.Stored(row.ColumnInt64(0), row.ColumnInt64(1));
          out.message.reply_to = reply_part.reply_to;
          out.message.quote = std::move(reply_part.quote);
          out.message.thread_root = reply_part.thread_root;
        });
        if (s.ok() && inserted && out.message.thread_root != 0) {
          s = CountThreadReply(db, out.message);
        }
        if (s.ok() && inserted && message.target != 0) {
          s = ApplyChange(db, message, target, out.message);
        } else if (s.ok() && inserted && may_mention) {
          s = StoreMentions(db, message, out.message);
        }
        if (!s.ok()) return s;
        if (!inserted) {
          out.denial = Denial::kForbidden;  // Not a member (or no such conversation).
          return Status();
        }
        recent_cids_.Add(message.sender, message.cid, out.message.id);
        MergeRecentCidsIfDue();
        if (message.attachment_ids.empty()) return Status();
        // The rows that let the conversation's members read the files (FindUpload).
        auto attach = db.Prepare(
            "INSERT INTO message_attachments(message_id, position, upload_id, conversation_id) "
            "VALUES (?1, ?2, ?3, ?4)");
        for (size_t i = 0; i < message.attachment_ids.size(); ++i) {
          attach->Reset();
          attach->Bind(out.message.id, static_cast<int64_t>(i), message.attachment_ids[i],
                       message.conv);
          if (Status a = attach->Exec(); !a.ok()) return a;
        }
        return Status();
      },
      std::move(reply));
}

}  // namespace ringcast::storage
