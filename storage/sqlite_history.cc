// SqliteChatStore's reads of messages (sqlite_chat_store.h), apart from sqlite_chat_store.cc to
// keep each file to one job: history, threads, pins, stars, sync, watermarks, gap fills and last
// seqs.
#include <algorithm>

#include "storage/message_kinds.h"
#include "storage/sqlite_chat_store.h"
#include "storage/sqlite_message_row.h"

namespace ringcast::storage {
namespace {

// The caller's membership row: last_seq, delivered, read; nullopt when not a member.
struct Membership {
  int64_t last_seq, delivered, read;
};
Result<std::optional<Membership>> FindMembership(SqliteDb& db, int64_t conv, int64_t user) {
  auto stmt = db.Prepare(
      "SELECT c.last_seq, uc.delivered_seq, uc.read_seq FROM conversations c "
      "JOIN users_conversations uc ON uc.conversation_id = c.id AND uc.user_id = ?2 "
      "WHERE c.id = ?1");
  stmt->Bind(conv, user);
  std::optional<Membership> found;
  Status s = ForEachSqliteRow(*stmt, [&](Statement& row) {
    found = Membership{row.ColumnInt64(0), row.ColumnInt64(1), row.ColumnInt64(2)};
  });
  if (!s.ok()) return s;
  return found;
}

Result<bool> ConversationExists(SqliteDb& db, int64_t conv) {
  auto stmt = db.Prepare("SELECT 1 FROM conversations WHERE id = ?1");
  stmt->Bind(conv);
  return AnySqliteRow(*stmt);
}

// A page of `conv`'s messages (of the thread under `root` only, when given), newest first,
// below seq `before` (0: from the newest).
Status ReadPageBefore(SqliteDb& db, int64_t conv, std::optional<int64_t> root, int64_t before,
                      PageLimit limit, Page& out) {
  auto stmt = db.Prepare(std::string("SELECT ") + kSqliteMessageColumns +
                         " FROM messages m WHERE conversation_id = ?1" +
                         (root ? " AND thread_root = ?2" : "") +
                         " AND seq < ?3 ORDER BY seq DESC LIMIT ?4");
  stmt->Bind(conv, root, PageBelow(before), int64_t{limit.count} + 1);
  return ReadSqlitePage(*stmt, limit, out.messages, out.more);
}

}  // namespace

Status DenyNonMember(SqliteDb& db, int64_t conv, Denial& denial) {
  Result<bool> exists = ConversationExists(db, conv);
  if (!exists.ok()) return exists.status();
  denial = *exists ? Denial::kForbidden : Denial::kNotFound;
  return Status();
}

namespace {

// A member's read (history, pins) refused to anyone else: `denial` kForbidden, or kNotFound
// when there is no such conversation.
Status DenyOutsider(SqliteDb& db, int64_t conv, int64_t user, Denial& denial) {
  Result<std::optional<Membership>> membership = FindMembership(db, conv, user);
  if (!membership.ok()) return membership.status();
  if (*membership) return Status();
  return DenyNonMember(db, conv, denial);
}

}  // namespace

void SqliteChatStore::ListPins(int64_t conv, int64_t user, Reply<Page> reply) {
  Submit<Page>(
      Kind::kRead,
      [conv, user](SqliteDb& db, Page& out) -> Status {
        if (Status s = DenyOutsider(db, conv, user, out.denial);
            !s.ok() || out.denial != Denial::kNone) {
          return s;
        }
        auto stmt = db.Prepare(std::string("SELECT ") + kSqliteMessageColumns +
                               " FROM messages m WHERE conversation_id = ?1 AND pinned_at IS NOT "
                               "NULL ORDER BY pinned_at DESC, seq DESC LIMIT 1000");
        stmt->Bind(conv);
        return ForEachSqliteRow(
            *stmt, [&](Statement& row) { out.messages.push_back(ReadSqliteMessage(row, 0)); });
      },
      std::move(reply));
}

// `seen`: one database, read where it is written, always holds it.
void SqliteChatStore::History(int64_t conv, int64_t user, int64_t before, int64_t /*seen*/,
                              PageLimit limit, Reply<Page> reply) {
  Submit<Page>(
      Kind::kRead,
      [conv, user, before, limit](SqliteDb& db, Page& out) -> Status {
        if (Status s = DenyOutsider(db, conv, user, out.denial);
            !s.ok() || out.denial != Denial::kNone) {
          return s;
        }
        return ReadPageBefore(db, conv, std::nullopt, before, limit, out);
      },
      std::move(reply));
}

void SqliteChatStore::Thread(int64_t conv, int64_t user, int64_t root, int64_t before,
                             int64_t /*seen*/, PageLimit limit, Reply<ThreadPage> reply) {
  Submit<ThreadPage>(
      Kind::kRead,
      [conv, user, root, before, limit](SqliteDb& db, ThreadPage& thread) -> Status {
        Page& out = thread.page;
        if (Status s = DenyOutsider(db, conv, user, out.denial);
            !s.ok() || out.denial != Denial::kNone) {
          return s;
        }
        // Only a message that can be a root: an ordinary one not in a thread itself; and the
        // caller's place in its thread.
        auto is_root = db.Prepare(
            "SELECT coalesce(tr.read_seq, 0), (SELECT count(*) FROM messages r "
            "WHERE r.conversation_id = ?1 AND r.thread_root = ?2 "
            "AND r.seq > coalesce(tr.read_seq, 0) AND r.sender_id <> ?3) "
            "FROM messages m LEFT JOIN thread_reads tr ON tr.conversation_id = ?1 "
            "AND tr.root_seq = ?2 AND tr.user_id = ?3 WHERE m.conversation_id = ?1 "
            "AND m.seq = ?2 AND m.thread_root IS NULL AND m." RINGCAST_ORDINARY_KIND_SQL);
        is_root->Bind(conv, root, user);
        bool found = false;
        Status read = ForEachSqliteRow(*is_root, [&](Statement& row) {
          found = true;
          thread.read_seq = row.ColumnInt64(0);
          thread.unread = row.ColumnInt64(1);
        });
        if (!read.ok()) return read;
        if (!found) {
          out.denial = Denial::kNotFound;
          return Status();
        }
        return ReadPageBefore(db, conv, root, before, limit, out);
      },
      std::move(reply));
}

void SqliteChatStore::ThreadRead(int64_t conv, int64_t user, int64_t root, int64_t seq,
                                 Reply<ThreadReadOutcome> reply) {
  Submit<ThreadReadOutcome>(
      Kind::kSingleWrite,
      [conv, user, root, seq](SqliteDb& db, ThreadReadOutcome& out) -> Status {
        // Never back, never past the conversation's last seq; a member's, of a root only.
        auto upsert = db.Prepare(
            "INSERT INTO thread_reads(conversation_id, root_seq, user_id, read_seq) "
            "SELECT ?1, ?2, ?3, min(?4, c.last_seq) FROM conversations c "
            "JOIN users_conversations uc ON uc.conversation_id = c.id AND uc.user_id = ?3 "
            "JOIN messages m ON m.conversation_id = c.id AND m.seq = ?2 AND m.thread_root IS NULL "
            "AND m." RINGCAST_ORDINARY_KIND_SQL
            " WHERE c.id = ?1 ON CONFLICT (conversation_id, root_seq, user_id) "
            "DO UPDATE SET read_seq = max(read_seq, excluded.read_seq) RETURNING read_seq");
        upsert->Bind(conv, root, user, seq);
        out.denial = Denial::kNotFound;
        return ForEachSqliteRow(*upsert, [&](Statement& row) {
          out.denial = Denial::kNone;
          out.read_seq = row.ColumnInt64(0);
        });
      },
      std::move(reply));
}

void SqliteChatStore::SetStar(int64_t user, int64_t conv, int64_t seq, bool on, int64_t now,
                              Reply<Denial> reply) {
  Submit<Denial>(
      Kind::kSingleWrite,
      [user, conv, seq, on, now](SqliteDb& db, Denial& out) -> Status {
        if (Status s = DenyOutsider(db, conv, user, out); !s.ok() || out != Denial::kNone) {
          return s;
        }
        auto target = db.Prepare(
            "SELECT id, deleted_at IS NOT NULL FROM messages WHERE conversation_id = ?1 AND "
            "seq = ?2 AND " RINGCAST_ORDINARY_KIND_SQL);
        target->Bind(conv, seq);
        int64_t id = 0;
        bool deleted = false;
        if (Status s = ForEachSqliteRow(*target,
                                        [&](Statement& row) {
                                          id = row.ColumnInt64(0);
                                          deleted = row.ColumnInt64(1) != 0;
                                        });
            !s.ok()) {
          return s;
        }
        if (id == 0) {
          out = Denial::kNotFound;
          return Status();
        }
        if (on && deleted) {
          out = Denial::kGone;
          return Status();
        }
        auto change =
            db.Prepare(on ? "INSERT OR IGNORE INTO stars(user_id, message_id, starred_at) "
                            "VALUES (?1, ?2, ?3)"
                          : "DELETE FROM stars WHERE user_id = ?1 AND message_id = ?2");
        if (on) {
          change->Bind(user, id, now);
        } else {
          change->Bind(user, id);
        }
        return change->Exec();
      },
      std::move(reply));
}

void SqliteChatStore::ListStars(int64_t user, int64_t before, PageLimit limit, Reply<Page> reply) {
  SubmitUserListPage(
      "FROM stars s JOIN messages m ON m.id = s.message_id "
      "WHERE s.user_id = ?1 AND s.message_id < ?2 AND m.deleted_at IS NULL "
      "AND EXISTS (SELECT 1 FROM users_conversations uc WHERE "
      "uc.conversation_id = m.conversation_id AND uc.user_id = ?1) "
      "ORDER BY s.message_id DESC LIMIT ?3",
      user, before, limit, std::move(reply));
}

void SqliteChatStore::Sync(int64_t user, std::vector<SyncAsk> asks, PageLimit limit,
                           Reply<std::vector<SyncConversation>> reply) {
  Submit<std::vector<SyncConversation>>(
      Kind::kRead,
      [user, asks = std::move(asks), limit](SqliteDb& db,
                                            std::vector<SyncConversation>& out) -> Status {
        uint64_t bytes_left = limit.bytes;  // Shared by every conversation of the answer.
        std::vector<SyncAsk> wanted = asks;
        if (wanted.empty()) {
          auto all = db.Prepare(
              "SELECT conversation_id FROM users_conversations WHERE user_id = ?1 "
              "ORDER BY conversation_id");
          all->Bind(user);
          Status s = ForEachSqliteRow(*all, [&](Statement& row) {
            wanted.push_back({row.ColumnInt64(0), 0});
          });
          if (!s.ok()) return s;
        }
        for (const SyncAsk& ask : wanted) {
          Result<std::optional<Membership>> membership = FindMembership(db, ask.conv, user);
          if (!membership.ok()) return membership.status();
          if (!*membership) continue;
          SyncConversation conv;
          conv.conv = ask.conv;
          conv.last_seq = (*membership)->last_seq;
          conv.read_seq = (*membership)->read;
          Status s = LoadMembers(db, ask.conv, conv.members);
          if (!s.ok()) return s;
          Result<int64_t> mentions = UnreadMentions(db, ask.conv, user, conv.read_seq);
          if (!mentions.ok()) return mentions.status();
          conv.unread_mentions = *mentions;
          auto changes = db.Prepare(
              "SELECT count(*) FROM messages WHERE conversation_id = ?1 AND seq > ?2 "
              "AND " RINGCAST_SERVER_KIND_SQL);
          changes->Bind(ask.conv, conv.read_seq);
          s = ForEachSqliteRow(*changes, [&](Statement& row) {
            conv.unread = conv.last_seq - conv.read_seq - row.ColumnInt64(0);
          });
          if (!s.ok()) return s;
          auto messages = db.Prepare(std::string("SELECT ") + kSqliteMessageColumns +
                                     " FROM messages m WHERE conversation_id = ?1 AND seq > ?2 "
                                     "ORDER BY seq LIMIT ?3");
          messages->Bind(ask.conv, ask.after, int64_t{limit.count} + 1);
          s = ReadSqlitePage(*messages, limit.count, bytes_left, conv.messages, conv.more);
          if (!s.ok()) return s;
          out.push_back(std::move(conv));
        }
        return Status();
      },
      std::move(reply));
}

void SqliteChatStore::UpdateWatermarks(int64_t conv, int64_t user, int64_t delivered, int64_t read,
                                       Reply<WatermarkOutcome> reply) {
  Submit<WatermarkOutcome>(
      Kind::kWrite,
      [conv, user, delivered, read](SqliteDb& db, WatermarkOutcome& out) -> Status {
        Result<std::optional<Membership>> membership = FindMembership(db, conv, user);
        if (!membership.ok()) return membership.status();
        if (!*membership) {
          out.denial = Denial::kForbidden;
          return Status();
        }
        const Membership& now = **membership;
        int64_t new_read = std::max(now.read, std::min(read, now.last_seq));
        int64_t new_delivered =
            std::max(now.delivered, std::min(std::max(delivered, new_read), now.last_seq));
        out.delivered = new_delivered;
        out.read = new_read;
        out.delivered_moved = new_delivered != now.delivered;
        out.read_moved = new_read != now.read;
        if (!out.delivered_moved && !out.read_moved) return Status();
        return db.Run(
            "UPDATE users_conversations SET delivered_seq = ?3, read_seq = ?4 "
            "WHERE conversation_id = ?1 AND user_id = ?2",
            conv, user, new_delivered, new_read);
      },
      std::move(reply));
}

void SqliteChatStore::ReadRange(int64_t conv, int64_t after, uint32_t limit,
                                Reply<std::vector<Message>> reply) {
  Submit<std::vector<Message>>(
      Kind::kRead,
      [conv, after, limit](SqliteDb& db, std::vector<Message>& out) -> Status {
        auto stmt = db.Prepare(std::string("SELECT ") + kSqliteMessageColumns +
                               " FROM messages m WHERE conversation_id = ?1 AND seq > ?2 "
                               "ORDER BY seq LIMIT ?3");
        stmt->Bind(conv, after, limit);
        return ForEachSqliteRow(*stmt,
                                [&](Statement& row) { out.push_back(ReadSqliteMessage(row, 0)); });
      },
      std::move(reply));
}

void SqliteChatStore::LastSeqs(std::vector<int64_t> convs,
                               Reply<std::vector<std::pair<int64_t, int64_t>>> reply) {
  Submit<std::vector<std::pair<int64_t, int64_t>>>(
      Kind::kRead,
      [convs = std::move(convs)](SqliteDb& db,
                                 std::vector<std::pair<int64_t, int64_t>>& out) -> Status {
        for (int64_t conv : convs) {
          auto stmt = db.Prepare("SELECT last_seq FROM conversations WHERE id = ?1");
          stmt->Bind(conv);
          Status s = ForEachSqliteRow(
              *stmt, [&](Statement& row) { out.emplace_back(conv, row.ColumnInt64(0)); });
          if (!s.ok()) return s;
        }
        return Status();
      },
      std::move(reply));
}

}  // namespace ringcast::storage
