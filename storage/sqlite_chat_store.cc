#include "storage/sqlite_chat_store.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include "storage/await_reply.h"
#include "storage/mentions.h"
#include "storage/message_kinds.h"
#include "storage/sqlite_message_row.h"
#include "storage/store_metrics.h"

namespace ringcast::storage {
namespace {

// Reads rows into `messages` until `count` of them or until `bytes_left` (shared by the pages
// of one answer) runs out; more: a row was left. Stops stepping there, so a page of large
// messages reads one row more than it returns, not the whole LIMIT (count + 1).
Status ReadPage(Statement& stmt, uint32_t count, uint64_t& bytes_left,
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
  stmt->Bind(conv, root, before > 0 ? before : std::numeric_limits<int64_t>::max(),
             int64_t{limit.count} + 1);
  uint64_t bytes_left = limit.bytes;
  return ReadPage(*stmt, limit.count, bytes_left, out.messages, out.more);
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

Status LoadMemberIds(SqliteDb& db, int64_t conv, std::vector<int64_t>& members) {
  auto stmt = db.Prepare(
      "SELECT user_id FROM users_conversations WHERE conversation_id = ?1 ORDER BY user_id");
  stmt->Bind(conv);
  return ForEachSqliteRow(*stmt, [&](Statement& row) { members.push_back(row.ColumnInt64(0)); });
}

}  // namespace

Result<std::unique_ptr<SqliteChatStore>> SqliteChatStore::Open(const ExecutorOptions& options,
                                                               uint32_t recent_cids,
                                                               SearchIndexOptions search) {
  if (search.path.empty()) {
    search.path = (std::filesystem::path(options.db.path).parent_path() / "search.db").string();
  }
  search.chat_path = options.db.path;
  if (search.log == nullptr) search.log = options.log;
  // search.db first: the readers attach it as they open.
  Result<std::unique_ptr<SqliteSearchIndex>> index = SqliteSearchIndex::Open(search);
  if (!index.ok()) return index.status();
  ExecutorOptions with_index = options;
  with_index.reader_attach.emplace_back("search", search.path);
  Result<std::unique_ptr<BatchExecutor>> executor = BatchExecutor::Start(with_index);
  if (!executor.ok()) return executor.status();
  std::unique_ptr<SqliteChatStore> store(new SqliteChatStore(
      std::move(*executor), std::max<uint32_t>(recent_cids, kCidMergeChunk), std::move(*index)));
  if (Status s = store->LoadRecentCids(); !s.ok()) return s;
  // chat.db has its final schema now (the executor migrated it).
  if (Status s = store->search_index_->Start(); !s.ok()) return s;
  return store;
}

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

SqliteChatStore::~SqliteChatStore() { executor_->Stop(); }

void SqliteChatStore::CreateUser(std::string username, std::string password_hash, int64_t now,
                                 Reply<std::pair<Denial, int64_t>> reply) {
  Submit<std::pair<Denial, int64_t>>(
      Kind::kWrite,
      [username = std::move(username), password_hash = std::move(password_hash), now](
          SqliteDb& db, std::pair<Denial, int64_t>& out) {
        auto stmt = db.Prepare(
            "INSERT INTO users(username, password_hash, created_at) VALUES (?1, ?2, ?3) "
            "ON CONFLICT(username) DO NOTHING RETURNING id");
        stmt->Bind(username, password_hash, now);
        out = {Denial::kTaken, 0};
        return ForEachSqliteRow(*stmt, [&](Statement& row) {
          out = {Denial::kNone, row.ColumnInt64(0)};
        });
      },
      std::move(reply));
}

void SqliteChatStore::FindLogin(std::string username, Reply<std::optional<UserLogin>> reply) {
  Submit<std::optional<UserLogin>>(
      Kind::kRead,
      [username = std::move(username)](SqliteDb& db, std::optional<UserLogin>& out) {
        auto stmt =
            db.Prepare("SELECT id, password_hash, created_at FROM users WHERE username = ?1");
        stmt->Bind(username);
        return ForEachSqliteRow(*stmt, [&](Statement& row) {
          out = UserLogin{row.ColumnInt64(0), std::string(row.ColumnText(1)), row.ColumnInt64(2)};
        });
      },
      std::move(reply));
}

void SqliteChatStore::RevokeToken(std::string jti, int64_t expires_at_ms, Reply<bool> reply) {
  Submit<bool>(
      Kind::kWrite,
      [jti = std::move(jti), expires_at_ms](SqliteDb& db, bool& out) {
        // Expired entries can never matter again (the token fails its own expiry check).
        auto prune = db.Prepare(
            "DELETE FROM revoked_tokens WHERE expires_at < "
            "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)");
        if (Status s = prune->Exec(); !s.ok()) return s;
        auto stmt = db.Prepare(
            "INSERT INTO revoked_tokens(jti, expires_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING");
        stmt->Bind(jti, expires_at_ms);
        out = true;
        return stmt->Exec();
      },
      std::move(reply));
}

void SqliteChatStore::LoadRevoked(int64_t now, Reply<std::vector<RevokedToken>> reply) {
  Submit<std::vector<RevokedToken>>(
      Kind::kRead,
      [now](SqliteDb& db, std::vector<RevokedToken>& out) {
        auto stmt = db.Prepare("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > ?1");
        stmt->Bind(now);
        return ForEachSqliteRow(*stmt, [&](Statement& row) {
          out.push_back(RevokedToken{std::string(row.ColumnText(0)), row.ColumnInt64(1)});
        });
      },
      std::move(reply));
}

void SqliteChatStore::SetLastOnline(int64_t user, int64_t ts, Reply<bool> reply) {
  Submit<bool>(
      Kind::kWrite,
      [user, ts](SqliteDb& db, bool& out) {
        auto stmt = db.Prepare(
            "UPDATE users SET last_online = max(coalesce(last_online, 0), ?2) WHERE id = ?1");
        stmt->Bind(user, ts);
        out = true;
        return stmt->Exec();
      },
      std::move(reply));
}

void SqliteChatStore::SearchUsers(std::string prefix, uint32_t limit,
                                  Reply<std::vector<UserMatch>> reply) {
  Submit<std::vector<UserMatch>>(
      Kind::kRead,
      [prefix = std::move(prefix), limit](SqliteDb& db, std::vector<UserMatch>& out) {
        const std::optional<UsernameRange> range = UsernamePrefixRange(prefix);
        if (!range) return Status();
        // The column is COLLATE NOCASE, so these comparisons and the order are NOCASE's, and
        // its UNIQUE index serves them as one range scan in order (schema_test.cc).
        auto stmt = db.Prepare(
            "SELECT id, username FROM users WHERE username >= ?1 AND username < ?2 "
            "ORDER BY username LIMIT ?3");
        stmt->Bind(range->low, range->high, limit);
        return ForEachSqliteRow(*stmt, [&](Statement& row) {
          out.push_back(UserMatch{row.ColumnInt64(0), std::string(row.ColumnText(1))});
        });
      },
      std::move(reply));
}

void SqliteChatStore::FindUsers(std::vector<int64_t> ids, Reply<std::vector<UserMatch>> reply) {
  Submit<std::vector<UserMatch>>(
      Kind::kRead,
      [ids = std::move(ids)](SqliteDb& db, std::vector<UserMatch>& out) {
        std::set<int64_t> wanted(ids.begin(), ids.end());  // Ordered and without repeats.
        // One primary-key lookup per id (a prepared statement is cached by its text).
        auto stmt = db.Prepare("SELECT username FROM users WHERE id = ?1");
        for (int64_t id : wanted) {
          stmt->Reset();
          stmt->Bind(id);
          Status s = ForEachSqliteRow(*stmt, [&](Statement& row) {
            out.push_back(UserMatch{id, std::string(row.ColumnText(0))});
          });
          if (!s.ok()) return s;
        }
        return Status();
      },
      std::move(reply));
}

void SqliteChatStore::CreateConversation(int64_t creator, std::vector<int64_t> members,
                                         std::optional<std::string> name, bool group, int64_t now,
                                         Reply<CreateConversationOutcome> reply) {
  Submit<CreateConversationOutcome>(
      Kind::kWrite,
      [creator, members = std::move(members), name = std::move(name), group, now](
          SqliteDb& db, CreateConversationOutcome& out) mutable -> Status {
        std::set<int64_t> everyone(members.begin(), members.end());
        everyone.insert(creator);
        for (int64_t user : everyone) {
          Result<bool> exists = UserExists(db, user);
          if (!exists.ok()) return exists.status();
          if (!*exists) {
            out.denial = Denial::kUnknownUser;
            return Status();
          }
        }
        std::optional<std::string> direct_key;
        if (!group) {
          direct_key = std::to_string(*everyone.begin()) + ":" + std::to_string(*everyone.rbegin());
          auto find = db.Prepare("SELECT id FROM conversations WHERE direct_key = ?1");
          find->Bind(*direct_key);
          int64_t existing = 0;
          Status s =
              ForEachSqliteRow(*find, [&](Statement& row) { existing = row.ColumnInt64(0); });
          if (!s.ok()) return s;
          if (existing != 0) return LoadState(db, existing, out.conversation);
        }
        auto insert = db.Prepare(
            "INSERT INTO conversations(name, is_group, created_at, direct_key) "
            "VALUES (?1, ?2, ?3, ?4) RETURNING id");
        insert->Bind(name, group ? 1 : 0, now, direct_key);
        int64_t id = 0;
        Status s = ForEachSqliteRow(*insert, [&](Statement& row) { id = row.ColumnInt64(0); });
        if (!s.ok()) return s;
        auto member = db.Prepare(
            "INSERT INTO users_conversations(conversation_id, user_id, joined_at, role) "
            "VALUES (?1, ?2, ?3, ?4)");
        for (int64_t user : everyone) {
          const bool owner = group && user == creator;
          member->Bind(id, user, now, owner ? kOwnerRole : kMemberRole);
          if (Status e = member->Exec(); !e.ok()) return e;
        }
        out.created = true;
        return LoadState(db, id, out.conversation);
      },
      std::move(reply));
}

void SqliteChatStore::ListConversations(int64_t user,
                                        Reply<std::vector<ConversationSummary>> reply) {
  Submit<std::vector<ConversationSummary>>(
      Kind::kRead,
      [user](SqliteDb& db, std::vector<ConversationSummary>& out) -> Status {
        auto stmt = db.Prepare(
            std::string("SELECT c.id, c.name, c.is_group, c.last_seq, uc.read_seq, ") +
            kSqliteMessageColumns +
            ", uc.muted_until, "
            "(SELECT count(*) FROM mentions mn WHERE mn.conversation_id = c.id "
            " AND mn.user_id = ?1 AND mn.seq > uc.read_seq), " +
            std::string(kUnreadOrdinarySql) +
            ", c.topic, c.avatar_upload FROM users_conversations uc JOIN conversations c "
            "ON c.id = uc.conversation_id "
            "LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = " +
            std::string(kLastOrdinarySeqSql) +
            " "
            "WHERE uc.user_id = ?1 ORDER BY coalesce(m.sent_at, c.created_at) DESC, c.id DESC");
        stmt->Bind(user);
        Status s = ForEachSqliteRow(*stmt, [&](Statement& row) {
          ConversationSummary summary;
          summary.id = row.ColumnInt64(0);
          if (!row.ColumnIsNull(1)) summary.name = std::string(row.ColumnText(1));
          summary.group = row.ColumnInt64(2) != 0;
          summary.last_seq = row.ColumnInt64(3);
          summary.read_seq = row.ColumnInt64(4);
          if (!row.ColumnIsNull(5)) summary.last_message = ReadSqliteMessage(row, 5);
          constexpr int kAfter = 5 + kSqliteMessageColumnCount;
          if (!row.ColumnIsNull(kAfter)) summary.muted_until = row.ColumnInt64(kAfter);
          summary.unread_mentions = row.ColumnInt64(kAfter + 1);
          summary.unread = row.ColumnInt64(kAfter + 2);
          if (!row.ColumnIsNull(kAfter + 3))
            summary.topic = std::string(row.ColumnText(kAfter + 3));
          if (!row.ColumnIsNull(kAfter + 4))
            summary.avatar = std::string(row.ColumnText(kAfter + 4));
          out.push_back(std::move(summary));
        });
        if (!s.ok()) return s;
        for (ConversationSummary& summary : out) {
          std::vector<MemberState> members;
          if (Status e = LoadMembers(db, summary.id, members); !e.ok()) return e;
          for (MemberState& member : members) {
            summary.members.push_back(member.user);
            summary.roles.push_back(std::move(member.role));
          }
        }
        return Status();
      },
      std::move(reply));
}

void SqliteChatStore::StartSession(int64_t user, Reply<SessionStart> reply) {
  Submit<SessionStart>(
      Kind::kRead,
      [user](SqliteDb& db, SessionStart& out) -> Status {
        auto stmt = db.Prepare(
            "SELECT c.id, c.last_seq FROM users_conversations uc "
            "JOIN conversations c ON c.id = uc.conversation_id WHERE uc.user_id = ?1");
        stmt->Bind(user);
        Status s = ForEachSqliteRow(*stmt, [&](Statement& row) {
          out.conversations.push_back({row.ColumnInt64(0), row.ColumnInt64(1), {}});
        });
        if (!s.ok()) return s;
        for (SessionStart::Conversation& conv : out.conversations) {
          if (Status e = LoadMemberIds(db, conv.id, conv.members); !e.ok()) return e;
        }
        auto contacts = db.Prepare(
            "SELECT DISTINCT u.id, u.last_online FROM users_conversations mine "
            "JOIN users_conversations theirs ON theirs.conversation_id = mine.conversation_id "
            "JOIN users u ON u.id = theirs.user_id "
            "WHERE mine.user_id = ?1 AND theirs.user_id <> ?1 ORDER BY u.id");
        contacts->Bind(user);
        return ForEachSqliteRow(*contacts, [&](Statement& row) {
          Contact contact{row.ColumnInt64(0), std::nullopt};
          if (!row.ColumnIsNull(1)) contact.last_online = row.ColumnInt64(1);
          out.contacts.push_back(contact);
        });
      },
      std::move(reply));
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
          s = ReadPage(*messages, limit.count, bytes_left, conv.messages, conv.more);
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
        auto stmt = db.Prepare(
            "UPDATE users_conversations SET delivered_seq = ?3, read_seq = ?4 "
            "WHERE conversation_id = ?1 AND user_id = ?2");
        stmt->Bind(conv, user, new_delivered, new_read);
        return stmt->Exec();
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

void SqliteChatStore::CollectMetrics(MetricSet& out) const {
  const ExecutorStats stats = executor_->stats();
  CollectStoreMetrics({.backend = "sqlite",
                       .up = Healthy(),
                       .batches = stats.batches,
                       .jobs = stats.write_jobs,
                       .failed_jobs = stats.failed_write_jobs + stats.failed_read_jobs,
                       .rejected = stats.rejected,
                       .refused_wait = stats.refused_wait,
                       .write_wait_estimate = stats.write_wait_estimate,
                       .write_rate = stats.write_rate,
                       .queued_writes = stats.queued_writes,
                       .queued_reads = stats.queued_reads},
                      executor_->batch_sizes(), executor_->commit_seconds(),
                      executor_->queue_wait_seconds(), out);
  WalFigures wal{.file_bytes = stats.wal_file_bytes,
                 .frames = stats.wal_frames,
                 .pending = stats.wal_frames - stats.wal_backfilled,
                 .frame_bytes = stats.page_size + 24,
                 .written_bytes = stats.wal_written_bytes,
                 .restarts = stats.wal_restarts,
                 .over_bound = stats.wal_over_bound,
                 .refused_writes = stats.wal_refused_writes,
                 .bound_bytes = executor_->options().wal_bound_bytes,
                 .hard_cap_bytes = executor_->options().wal_hard_cap_bytes};
  std::memcpy(wal.checkpoints, stats.checkpoint_results, sizeof wal.checkpoints);
  CollectWalMetrics(wal, executor_->writer_held_seconds(), out);
  out.Gauge("ringcast_store_recent_cids",
            "Cids of the newest messages held in memory, not yet merged into message_cids",
            double(recent_cids_.size()));
  out.Counter("ringcast_store_cids_merged_total", "Cids merged into message_cids in bulk",
              double(cids_merged_.load(std::memory_order_relaxed)));
  const SearchIndexStats index = search_index_->stats();
  out.Gauge("ringcast_store_search_index_lag_messages",
            "Message ids committed to chat.db and not yet in the search index (search.db)",
            double(std::max<int64_t>(0, index.appended_upto - index.indexed_upto)));
  out.Counter("ringcast_store_search_index_passes_total",
              "Transactions of the search index thread that added messages", double(index.passes));
  out.Counter("ringcast_store_search_index_failed_passes_total",
              "Search index passes that failed (retried a second later)",
              double(index.failed_passes));
  out.Counter("ringcast_store_search_index_rebuilds_total",
              "Times search.db was emptied because it was built from another chat database",
              double(index.rebuilds));
  out.Counter("ringcast_store_search_waits_total",
              "Searches that waited for the index to hold the messages committed before them",
              double(index.waits));
  out.Counter("ringcast_store_search_stale_total",
              "Searches that ran before the index held them (--search-fresh-wait-ms passed, or "
              "too many waited)",
              double(index.stale_answers));
}

// --- Uploads (issue 15) -------------------------------------------------------------------

namespace {
// An uploads row read as SELECT id, owner_id, name, size, type, sha256, created_at, width,
// height, thumb_sha256, thumb_size.
UploadRecord ReadUpload(Statement& row) {
  return UploadRecord{.id = std::string(row.ColumnText(0)),
                      .owner = row.ColumnInt64(1),
                      .name = std::string(row.ColumnText(2)),
                      .size = row.ColumnInt64(3),
                      .type = std::string(row.ColumnText(4)),
                      .sha256 = std::string(row.ColumnText(5)),
                      .created = row.ColumnInt64(6),
                      .width = row.ColumnInt64(7),
                      .height = row.ColumnInt64(8),
                      .thumb_sha256 = std::string(row.ColumnText(9)),
                      .thumb_size = row.ColumnInt64(10)};
}
}  // namespace

void SqliteChatStore::CreateUpload(UploadRecord r, uint64_t quota_bytes,
                                   Reply<UploadOutcome> reply) {
  const int64_t quota = static_cast<int64_t>(std::min<uint64_t>(quota_bytes, INT64_MAX));
  Submit<UploadOutcome>(
      Kind::kWrite,
      [r = std::move(r), quota](SqliteDb& db, UploadOutcome& out) -> Status {
        // One writer: the check and the insert cannot interleave with another upload's.
        auto used = db.Prepare("SELECT coalesce(sum(size), 0) FROM uploads WHERE owner_id = ?1");
        used->Bind(r.owner);
        Status s =
            ForEachSqliteRow(*used, [&](Statement& row) { out.used_bytes = row.ColumnInt64(0); });
        if (!s.ok()) return s;
        if (out.used_bytes > quota - r.size) {
          out.over_quota = true;
          return Status();
        }
        auto insert = db.Prepare(
            "INSERT INTO uploads(id, owner_id, name, size, type, sha256, created_at, width, "
            "height, thumb_sha256, thumb_size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
            "?11)");
        insert->Bind(r.id, r.owner, r.name, r.size, r.type, r.sha256, r.created, r.width, r.height,
                     r.thumb_sha256, r.thumb_size);
        out.used_bytes += r.size;
        return insert->Exec();
      },
      std::move(reply));
}

void SqliteChatStore::FindOwnedUploads(int64_t owner, std::vector<std::string> ids,
                                       Reply<std::vector<UploadRecord>> reply) {
  Submit<std::vector<UploadRecord>>(
      Kind::kRead,
      [owner, ids = std::move(ids)](SqliteDb& db, std::vector<UploadRecord>& out) {
        auto stmt = db.Prepare(
            "SELECT id, owner_id, name, size, type, sha256, created_at, width, height, "
            "thumb_sha256, thumb_size FROM uploads WHERE id = ?1 AND owner_id = ?2");
        for (const std::string& id : ids) {
          stmt->Reset();
          stmt->Bind(id, owner);
          Status s =
              ForEachSqliteRow(*stmt, [&](Statement& row) { out.push_back(ReadUpload(row)); });
          if (!s.ok()) return s;
        }
        return Status();
      },
      std::move(reply));
}

void SqliteChatStore::FindUpload(std::string id, int64_t user,
                                 Reply<std::optional<UploadRecord>> reply) {
  Submit<std::optional<UploadRecord>>(
      Kind::kRead,
      [id = std::move(id), user](SqliteDb& db, std::optional<UploadRecord>& out) {
        auto stmt = db.Prepare(
            "SELECT u.id, u.owner_id, u.name, u.size, u.type, u.sha256, u.created_at, u.width, "
            "u.height, u.thumb_sha256, u.thumb_size FROM uploads u WHERE u.id = ?1 AND (?2 = 0 OR "
            "u.owner_id = ?2 OR EXISTS (SELECT 1 FROM message_attachments a JOIN "
            "users_conversations uc ON uc.conversation_id = a.conversation_id AND "
            "uc.user_id = ?2 WHERE a.upload_id = u.id) OR "
            "EXISTS (SELECT 1 FROM users p WHERE p.avatar_upload = u.id))");
        stmt->Bind(id, user);
        return ForEachSqliteRow(*stmt, [&](Statement& row) { out = ReadUpload(row); });
      },
      std::move(reply));
}

}  // namespace ringcast::storage
