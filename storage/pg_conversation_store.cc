// PgChatStore's conversations (pg_chat_store.h), apart from pg_chat_store.cc to keep each file to
// one job: creating them, membership and group changes (one call of an rc_ function each:
// pg_migrations/v12_groups.sql), the conversation list and what a session starts with.
#include <algorithm>

#include "storage/message_kinds.h"
#include "storage/pg_store_internal.h"

namespace ringcast::storage {

using namespace pg_internal;  // NOLINT: the backend's shared helpers (pg_store_internal.h).

namespace {

// denial, changed-or-created, conversation id, the state's columns (9), then the system
// entry's id, seq and body (NULL: none); `actor` wrote the entry, at `now`.
constexpr int kMembershipColumns = 15;
template <typename Outcome>
Status ReadMembershipRow(PgResults results, Outcome& out, bool& flag) {
  if (PQntuples(results[0]) != 1 || PQnfields(results[0]) != kMembershipColumns) {
    return Unexpected("membership");
  }
  const Row row{results[0], 0};
  out.denial = static_cast<Denial>(row.Int(0));
  flag = row.Bool(1);
  ReadState(row, 3, row.Int(2), out.conversation);
  return Status();
}

Status ReadChangeRow(PgResults results, int64_t actor, int64_t now, MembershipOutcome& out) {
  if (Status s = ReadMembershipRow(results, out, out.changed); !s.ok()) return s;
  const Row row{results[0], 0};
  if (!row.Null(kMembershipColumns - 3)) {
    out.system.push_back(Message{.id = row.Int(kMembershipColumns - 3),
                                 .conv = out.conversation.id,
                                 .seq = row.Int(kMembershipColumns - 2),
                                 .from = actor,
                                 .kind = std::string(kSystemKind),
                                 .body = row.Text(kMembershipColumns - 1),
                                 .ts = now});
  }
  return Status();
}

}  // namespace

void PgChatStore::CreateConversation(int64_t creator, std::vector<int64_t> members,
                                     std::optional<std::string> name, bool group, int64_t now,
                                     Reply<CreateConversationOutcome> reply) {
  PgQuery query{.statement = "create_conversation",
                .values = {Int(creator), pg::Int8ArrayBinary(members), name.value_or(""),
                           group ? "t" : "f", Int(now)},
                .nulls = {false, false, !name.has_value(), false, false},
                .binary = {false, true, false, false, false}};
  NoteChanged({creator}, members);
  Submit(
      *pipeline_, LaneOf(creator), Kind::kWrite, {std::move(query)},
      [](PgResults results, CreateConversationOutcome& out) {
        return ReadMembershipRow(results, out, out.created);
      },
      std::move(reply));
}

void PgChatStore::AddMembers(int64_t conv, int64_t caller, std::vector<int64_t> users,
                             uint32_t max_members, int64_t now, Reply<MembershipOutcome> reply) {
  PgQuery query{
      .statement = "add_members",
      .values = {Int(conv), Int(caller), pg::Int8ArrayBinary(users), Int(max_members), Int(now)},
      .binary = {false, false, true, false, false}};
  NoteChanged({conv, caller}, users);
  Submit(
      *pipeline_, LaneOf(conv), Kind::kWrite, {std::move(query)},
      [caller, now](PgResults results, MembershipOutcome& out) {
        return ReadChangeRow(results, caller, now, out);
      },
      std::move(reply));
}

void PgChatStore::RemoveMember(int64_t conv, int64_t caller, int64_t user, int64_t now,
                               Reply<MembershipOutcome> reply) {
  NoteChanged({conv, caller, user});
  Submit(
      *pipeline_, LaneOf(conv), Kind::kWrite,
      {Query("remove_member", {Int(conv), Int(caller), Int(user), Int(now)})},
      [caller, now](PgResults results, MembershipOutcome& out) {
        return ReadChangeRow(results, caller, now, out);
      },
      std::move(reply));
}

void PgChatStore::ChangeGroup(GroupChange change, Reply<MembershipOutcome> reply) {
  const char* op = change.op == GroupChange::Op::kSetRole    ? "role"
                   : change.op == GroupChange::Op::kTransfer ? "transfer"
                                                             : "settings";
  PgQuery query{.statement = "change_group",
                .values = {op, Int(change.conv), Int(change.caller), Int(change.user), change.role,
                           change.name.value_or(""), change.topic.value_or(""),
                           change.avatar.value_or(""), Int(change.now)},
                .nulls = {false, false, false, false, false, !change.name.has_value(),
                          !change.topic.has_value(), !change.avatar.has_value(), false}};
  NoteChanged({change.conv, change.caller, change.user});
  Submit(
      *pipeline_, LaneOf(change.conv), Kind::kWrite, {std::move(query)},
      [caller = change.caller, now = change.now](PgResults results, MembershipOutcome& out) {
        return ReadChangeRow(results, caller, now, out);
      },
      std::move(reply));
}

void PgChatStore::NoteChanged(std::initializer_list<int64_t> ids, std::span<const int64_t> more) {
  if (!replica_) return;
  for (int64_t id : ids) replica_->NoteChanged(id);
  for (int64_t id : more) replica_->NoteChanged(id);
}

void PgChatStore::ListConversations(int64_t user, Reply<std::vector<ConversationSummary>> reply) {
  // Fresh: no membership or group change of this node's may be missing, nor any message it knows.
  auto fresh = [replica = replica_.get(), user](PgResults results) {
    if (replica->ChangedRecently(user)) return false;
    bool fresh = true;
    ForEachRow(results[0], [&](const Row& row) {
      fresh = fresh && !replica->ChangedRecently(row.Int(0)) &&
              row.Int(3) >= replica->KnownSeq(row.Int(0)) &&
              replica->WatermarksFresh(row.Int(0), user, -1, row.Int(4));
    });
    return fresh;
  };
  ReadReplicaFirst(
      *pipeline_, replica_.get(), /*names_seen=*/false, {Query("list_conversations", {Int(user)})},
      std::move(fresh),
      [](PgResults results, std::vector<ConversationSummary>& out) {
        ForEachRow(results[0], [&](const Row& row) {
          ConversationSummary summary;
          summary.id = row.Int(0);
          if (!row.Null(1)) summary.name = row.Text(1);
          summary.group = row.Bool(2);
          summary.last_seq = row.Int(3);
          summary.read_seq = row.Int(4);
          summary.members = row.Ints(5);
          if (!row.Null(6)) summary.last_message = row.ReadMessage(6);
          constexpr int kAfter = 6 + kPgMessageColumnCount;
          if (!row.Null(kAfter)) summary.muted_until = row.Int(kAfter);
          summary.unread_mentions = row.Int(kAfter + 1);
          summary.unread = row.Int(kAfter + 2);
          if (!row.Null(kAfter + 3)) summary.topic = row.Text(kAfter + 3);
          summary.roles = row.Words(kAfter + 4);
          if (!row.Null(kAfter + 5)) summary.avatar = row.Text(kAfter + 5);
          out.push_back(std::move(summary));
        });
        return Status();
      },
      std::move(reply));
}

void PgChatStore::StartSession(int64_t user, Reply<SessionStart> reply) {
  Submit(
      *pipeline_, PgPipeline::kReaders, Kind::kRead,
      {Query("session_conversations", {Int(user)}), Query("session_contacts", {Int(user)})},
      [](PgResults results, SessionStart& out) {
        ForEachRow(results[0], [&](const Row& row) {
          out.conversations.push_back({row.Int(0), row.Int(1), row.Ints(2)});
        });
        ForEachRow(results[1], [&](const Row& row) {
          Contact contact{row.Int(0), std::nullopt};
          if (!row.Null(1)) contact.last_online = row.Int(1);
          out.contacts.push_back(contact);
        });
        return Status();
      },
      std::move(reply));
}

}  // namespace ringcast::storage
