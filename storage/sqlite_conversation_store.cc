// SqliteChatStore's conversations (sqlite_chat_store.h), apart from sqlite_chat_store.cc to keep
// each file to one job: creating one, the conversation list and what a session starts with (its
// members and groups: sqlite_group_store.cc).
#include <set>

#include "storage/message_kinds.h"
#include "storage/sqlite_chat_store.h"
#include "storage/sqlite_message_row.h"

namespace ringcast::storage {
namespace {

Status LoadMemberIds(SqliteDb& db, int64_t conv, std::vector<int64_t>& members) {
  auto stmt = db.Prepare(
      "SELECT user_id FROM users_conversations WHERE conversation_id = ?1 ORDER BY user_id");
  stmt->Bind(conv);
  return ForEachSqliteRow(*stmt, [&](Statement& row) { members.push_back(row.ColumnInt64(0)); });
}

}  // namespace

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

}  // namespace ringcast::storage
