// Changes to earlier messages (proto/PROTOCOL.md, "Changes to messages"; storage/SCHEMA.md,
// version 11): who may make them. Each change is a row of its own in the conversation's seq
// stream (kind edit or delete, `target` the changed message's seq), appended by
// ConversationStore::Append in the same transaction that changes the target's row.
#pragma once

#include <cstdint>
#include <string_view>

#include "storage/message_kinds.h"

namespace ringcast::storage {

inline bool IsChangeKind(std::string_view kind) {
  return kind == kEditKind || kind == kDeleteKind || kind == kReactionKind || kind == kPinKind ||
         kind == kUnpinKind;
}

// Only a message's author edits it.
inline bool MayEdit(int64_t author, int64_t actor) { return author == actor; }

// Who may delete a message: its author. Group admins will too once roles exist: their check goes
// here, and in rc_may_delete (pg_schema.cc, version 11), PostgreSQL's copy of this rule.
inline bool MayDelete(int64_t conv, int64_t author, int64_t actor) {
  (void)conv;
  return author == actor;
}

}  // namespace ringcast::storage
