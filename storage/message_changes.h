// Changes to earlier messages (proto/PROTOCOL.md, "Changes to messages"; storage/SCHEMA.md,
// version 11): who may make them. Each change is a row of its own in the conversation's seq
// stream (kind edit or delete, `target` the changed message's seq), appended by
// ConversationStore::Append in the same transaction that changes the target's row.
#pragma once

#include <cstdint>
#include <string_view>

#include "storage/group_rules.h"
#include "storage/message_kinds.h"

namespace ringcast::storage {

inline bool IsChangeKind(std::string_view kind) {
  return kind == kEditKind || kind == kDeleteKind || kind == kReactionKind || kind == kPinKind ||
         kind == kUnpinKind;
}

// Only a message's author edits it.
inline bool MayEdit(int64_t author, int64_t actor) { return author == actor; }

// Who may delete a message: its author, or a group's admin or owner (`actor_role`, the actor's
// role in the message's conversation: group_rules.h). PostgreSQL's copy of this rule is
// rc_may_delete (pg_migrations/v12_groups.sql).
inline bool MayDelete(int64_t author, int64_t actor, std::string_view actor_role) {
  return author == actor || MayDeleteOthers(actor_role);
}

}  // namespace ringcast::storage
