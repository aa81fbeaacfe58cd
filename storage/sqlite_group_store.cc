// SqliteChatStore's membership and group changes (schema v12; storage/SCHEMA.md, "Groups"):
// adding and removing members, roles, ownership and settings, each checked against
// group_rules.h and reported by a system entry appended in the same transaction.
#include <algorithm>
#include <set>

#include "storage/group_rules.h"
#include "storage/message_kinds.h"
#include "storage/sqlite_chat_store.h"

namespace ringcast::storage {

Status LoadMembers(SqliteDb& db, int64_t conv, std::vector<MemberState>& members) {
  auto stmt = db.Prepare(
      "SELECT user_id, delivered_seq, read_seq, role FROM users_conversations "
      "WHERE conversation_id = ?1 ORDER BY user_id");
  stmt->Bind(conv);
  return ForEachSqliteRow(*stmt, [&](Statement& row) {
    members.push_back({row.ColumnInt64(0), row.ColumnInt64(1), row.ColumnInt64(2),
                       std::string(row.ColumnText(3))});
  });
}

Status LoadState(SqliteDb& db, int64_t conv, ConversationState& state) {
  state = ConversationState{};
  state.id = conv;
  bool found = false;
  {
    auto stmt = db.Prepare(
        "SELECT name, is_group, last_seq, topic, avatar_upload FROM conversations "
        "WHERE id = ?1");
    stmt->Bind(conv);
    Status s = ForEachSqliteRow(*stmt, [&](Statement& row) {
      found = true;
      if (!row.ColumnIsNull(0)) state.name = std::string(row.ColumnText(0));
      state.group = row.ColumnInt64(1) != 0;
      state.last_seq = row.ColumnInt64(2);
      if (!row.ColumnIsNull(3)) state.topic = std::string(row.ColumnText(3));
      if (!row.ColumnIsNull(4)) state.avatar = std::string(row.ColumnText(4));
    });
    if (!s.ok()) return s;
  }
  if (!found) {
    state.denial = Denial::kNotFound;
    return Status();
  }
  return LoadMembers(db, conv, state.members);
}

Result<bool> UserExists(SqliteDb& db, int64_t user) {
  auto stmt = db.Prepare("SELECT 1 FROM users WHERE id = ?1");
  stmt->Bind(user);
  return AnySqliteRow(*stmt);
}

namespace {

const MemberState* FindMember(const ConversationState& state, int64_t user) {
  auto it = std::lower_bound(state.members.begin(), state.members.end(), user,
                             [](const MemberState& a, int64_t b) { return a.user < b; });
  return it != state.members.end() && it->user == user ? &*it : nullptr;
}

// The group a member changes: out.denial says why they may not; `caller_role` is their role.
Status LoadGroupForChange(SqliteDb& db, int64_t conv, int64_t caller, MembershipOutcome& out,
                          std::string& caller_role) {
  if (Status s = LoadState(db, conv, out.conversation); !s.ok()) return s;
  const MemberState* member = FindMember(out.conversation, caller);
  if (out.conversation.denial != Denial::kNone) {
    out.denial = out.conversation.denial;
  } else if (member == nullptr) {
    out.denial = Denial::kForbidden;
  } else if (!out.conversation.group) {
    out.denial = Denial::kNotGroup;
  } else {
    caller_role = member->role;
  }
  return Status();
}

// Appends the system entry reporting `event` as the conversation's next seq (target 0, not
// NULL: changes find their target among the rows with target NULL, so none can name it).
Status AppendSystem(SqliteDb& db, int64_t conv, const SystemEvent& event, int64_t now,
                    MembershipOutcome& out) {
  Message message{.conv = conv,
                  .from = event.actor,
                  .kind = std::string(kSystemKind),
                  .body = SystemBody(event),
                  .ts = now};
  // The triggers of schema v1 move last_seq, and the actor's watermarks, with the insert.
  auto insert = db.Prepare(
      "INSERT INTO messages(conversation_id, seq, sender_id, kind, body, sent_at, attachments, "
      "target) SELECT id, last_seq + 1, ?2, ?3, ?4, ?5, '', 0 FROM conversations WHERE id = ?1 "
      "RETURNING id, seq");
  insert->Bind(conv, message.from, message.kind, message.body, now);
  Status s = ForEachSqliteRow(*insert, [&](Statement& row) {
    message.id = row.ColumnInt64(0);
    message.seq = row.ColumnInt64(1);
  });
  if (!s.ok()) return s;
  out.changed = true;
  out.system.push_back(std::move(message));
  return Status();
}

Status SetRole(SqliteDb& db, int64_t conv, int64_t user, std::string_view role) {
  return db.Run(
      "UPDATE users_conversations SET role = ?3 WHERE conversation_id = ?1 AND user_id = ?2", conv,
      user, role);
}

}  // namespace

void SqliteChatStore::AddMembers(int64_t conv, int64_t caller, std::vector<int64_t> users,
                                 uint32_t max_members, int64_t now,
                                 Reply<MembershipOutcome> reply) {
  Submit<MembershipOutcome>(
      Kind::kWrite,
      [conv, caller, users = std::move(users), max_members, now](SqliteDb& db,
                                                                 MembershipOutcome& out) -> Status {
        std::string role;
        if (Status s = LoadGroupForChange(db, conv, caller, out, role); !s.ok()) return s;
        if (out.denial != Denial::kNone) return Status();
        if (!IsManager(role)) {
          out.denial = Denial::kNotAdmin;
          return Status();
        }
        std::vector<int64_t> newcomers;
        for (int64_t user : std::set<int64_t>(users.begin(), users.end())) {
          Result<bool> exists = UserExists(db, user);
          if (!exists.ok()) return exists.status();
          if (!*exists) {
            out.denial = Denial::kUnknownUser;
            return Status();
          }
          if (FindMember(out.conversation, user) == nullptr) newcomers.push_back(user);
        }
        if (out.conversation.members.size() + newcomers.size() > max_members) {
          out.denial = Denial::kTooLarge;
          return Status();
        }
        if (newcomers.empty()) return Status();  // All members already: nothing to write.
        // A newcomer starts with the history read, not with every old message unread.
        auto insert = db.Prepare(
            "INSERT INTO users_conversations(conversation_id, user_id, joined_at, delivered_seq, "
            "read_seq) VALUES (?1, ?2, ?3, ?4, ?4)");
        for (int64_t user : newcomers) {
          insert->Bind(conv, user, now, out.conversation.last_seq);
          if (Status s = insert->Exec(); !s.ok()) return s;
        }
        SystemEvent event{.action = "added", .actor = caller, .users = std::move(newcomers)};
        if (Status s = AppendSystem(db, conv, event, now, out); !s.ok()) return s;
        return LoadState(db, conv, out.conversation);
      },
      std::move(reply));
}

void SqliteChatStore::RemoveMember(int64_t conv, int64_t caller, int64_t user, int64_t now,
                                   Reply<MembershipOutcome> reply) {
  Submit<MembershipOutcome>(
      Kind::kWrite,
      [conv, caller, user, now](SqliteDb& db, MembershipOutcome& out) -> Status {
        std::string role;
        if (Status s = LoadGroupForChange(db, conv, caller, out, role); !s.ok()) return s;
        if (out.denial != Denial::kNone) return Status();
        const MemberState* target = FindMember(out.conversation, user);
        if (target == nullptr) {
          out.denial = Denial::kNotFound;
          return Status();
        }
        out.denial = RemoveDenial(caller, role, user, target->role);
        if (out.denial != Denial::kNone) return Status();
        // The entry comes first: the member it removes is still there to be sent it.
        SystemEvent event{
            .action = caller == user ? "left" : "removed", .actor = caller, .users = {user}};
        if (Status s = AppendSystem(db, conv, event, now, out); !s.ok()) return s;
        Status s =
            db.Run("DELETE FROM users_conversations WHERE conversation_id = ?1 AND user_id = ?2",
                   conv, user);
        if (!s.ok()) return s;
        return LoadState(db, conv, out.conversation);
      },
      std::move(reply));
}

void SqliteChatStore::ChangeGroup(GroupChange change, Reply<MembershipOutcome> reply) {
  Submit<MembershipOutcome>(
      Kind::kWrite,
      [change = std::move(change)](SqliteDb& db, MembershipOutcome& out) -> Status {
        const int64_t conv = change.conv;
        std::string role;
        if (Status s = LoadGroupForChange(db, conv, change.caller, out, role); !s.ok()) return s;
        if (out.denial != Denial::kNone) return Status();
        SystemEvent event{.actor = change.caller};
        if (change.op == GroupChange::Op::kSettings) {
          if (!IsManager(role)) {
            out.denial = Denial::kNotAdmin;
            return Status();
          }
          const ConversationState& now = out.conversation;
          if (change.name && change.name != now.name) event.name = *change.name;
          if (change.topic && change.topic != now.topic.value_or("")) event.topic = *change.topic;
          if (change.avatar && change.avatar != now.avatar.value_or("")) {
            event.avatar = *change.avatar;
          }
          if (!event.name && !event.topic && !event.avatar) return Status();
          if (event.avatar && !event.avatar->empty()) {
            Status s = DenyUnlessOwnImage(db, *event.avatar, change.caller, Denial::kNotOwnImage,
                                          out.denial);
            if (!s.ok() || out.denial != Denial::kNone) return s;
          }
          Status s = db.Run(
              "UPDATE conversations SET name = coalesce(?2, name), "
              "topic = CASE WHEN ?3 IS NULL THEN topic ELSE nullif(?3, '') END, "
              "avatar_upload = CASE WHEN ?4 IS NULL THEN avatar_upload ELSE nullif(?4, '') END "
              "WHERE id = ?1",
              conv, event.name, event.topic, event.avatar);
          if (!s.ok()) return s;
          event.action = "updated";
        } else {
          const MemberState* target = FindMember(out.conversation, change.user);
          if (target == nullptr) {
            out.denial = Denial::kNotFound;
            return Status();
          }
          event.users = {change.user};
          if (change.op == GroupChange::Op::kSetRole) {
            out.denial = SetRoleDenial(role, target->role);
            if (out.denial != Denial::kNone || target->role == change.role) return Status();
            if (Status s = SetRole(db, conv, change.user, change.role); !s.ok()) return s;
            event.action = "role";
            event.role = change.role;
          } else {
            if (role != kOwnerRole) {
              out.denial = Denial::kNotAdmin;
              return Status();
            }
            if (change.user == change.caller) return Status();
            if (Status s = SetRole(db, conv, change.caller, kAdminRole); !s.ok()) return s;
            if (Status s = SetRole(db, conv, change.user, kOwnerRole); !s.ok()) return s;
            event.action = "transferred";
          }
        }
        if (Status s = AppendSystem(db, conv, event, change.now, out); !s.ok()) return s;
        if (event.avatar && !event.avatar->empty()) {
          // The entry carries the new avatar: the members may read it (FindUpload), and no
          // sweep or message deletion takes it (schema v17).
          Status s = db.Run(
              "INSERT INTO message_attachments(message_id, position, upload_id, conversation_id) "
              "VALUES (?1, 0, ?2, ?3)",
              out.system.back().id, *event.avatar, conv);
          if (!s.ok()) return s;
        }
        return LoadState(db, conv, out.conversation);
      },
      std::move(reply));
}

void SqliteChatStore::FindCallPeers(int64_t conv, int64_t caller, uint32_t max_others,
                                    Reply<storage::CallPeers> reply) {
  Submit<storage::CallPeers>(
      Kind::kRead,
      [conv, caller, max_others](SqliteDb& db, storage::CallPeers& out) {
        auto state = db.Prepare(
            "SELECT c.is_group, EXISTS (SELECT 1 FROM users_conversations o JOIN blocks b ON "
            "(b.blocker = ?2 AND b.blocked = o.user_id) OR (b.blocker = o.user_id AND b.blocked = "
            "?2) WHERE o.conversation_id = ?1 AND o.user_id <> ?2) FROM conversations c JOIN "
            "users_conversations me ON me.conversation_id = c.id AND me.user_id = ?2 "
            "WHERE c.id = ?1");
        state->Bind(conv, caller);
        bool member = false, blocked = false;
        Status s = ForEachSqliteRow(*state, [&](Statement& row) {
          member = true;
          out.group = row.ColumnInt64(0) != 0;
          blocked = row.ColumnInt64(1) != 0;
        });
        if (!s.ok()) return s;
        // Blocks part a 1:1 only: a group's members may block each other and still meet there.
        if (!member || (!out.group && blocked)) {
          out.denial = Denial::kForbidden;
          return Status();
        }
        if (max_others == 0) return Status();
        auto others = db.Prepare(
            "SELECT user_id FROM users_conversations WHERE conversation_id = ?1 AND user_id <> ?2 "
            "ORDER BY delivered_seq DESC, user_id LIMIT ?3");
        others->Bind(conv, caller, int64_t{max_others});
        return ForEachSqliteRow(*others,
                                [&](Statement& row) { out.others.push_back(row.ColumnInt64(0)); });
      },
      std::move(reply));
}

}  // namespace ringcast::storage
