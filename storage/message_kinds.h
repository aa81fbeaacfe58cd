// The kinds of entry a conversation's seq stream holds besides what people write. A message's
// `kind` is otherwise the client's to choose (proto/PROTOCOL.md, "send"); these are written
// only by the server, so a send may not use them, and they neither count as unread nor notify.
#pragma once

#include <algorithm>
#include <array>
#include <string_view>

namespace ringcast::storage {

// Changes to an earlier message, naming it (proto/PROTOCOL.md, "Changes to messages").
inline constexpr std::string_view kEditKind = "edit";
inline constexpr std::string_view kDeleteKind = "delete";
inline constexpr std::string_view kReactionKind = "reaction";
inline constexpr std::string_view kPinKind = "pin";
inline constexpr std::string_view kUnpinKind = "unpin";
// What happened to the conversation itself (members, roles, name): written by the server.
inline constexpr std::string_view kSystemKind = "system";

// A call's record (proto/PROTOCOL.md, "Records"): written by the server, but counted, listed
// and notified as a message is (a missed call is news), so not among kServerKinds.
#define RINGCAST_CALL_KIND_SQL "call"
inline constexpr std::string_view kCallKind = RINGCAST_CALL_KIND_SQL;

inline constexpr std::array<std::string_view, 6> kServerKinds = {
    kEditKind, kDeleteKind, kReactionKind, kPinKind, kUnpinKind, kSystemKind};

inline bool IsServerKind(std::string_view kind) {
  return std::find(kServerKinds.begin(), kServerKinds.end(), kind) != kServerKinds.end();
}

// What a client may not send: the server's kinds and the call records.
inline bool IsServerWritten(std::string_view kind) {
  return IsServerKind(kind) || kind == kCallKind;
}

// The same test in SQL, for counting what is unread in the store: `kind NOT IN (...)`, valid in
// SQLite and PostgreSQL alike. The macro is for statements written as one literal (pg_schema.cc).
#define RINGCAST_ORDINARY_KIND_SQL "kind NOT IN ('edit','delete','reaction','pin','unpin','system')"
inline constexpr std::string_view kOrdinaryKindSql = RINGCAST_ORDINARY_KIND_SQL;
// What search indexes: the ordinary messages but calls' records, whose bodies are the server's
// JSON (storage/SCHEMA.md, "Search").
#define RINGCAST_SEARCHED_KIND_SQL RINGCAST_ORDINARY_KIND_SQL " AND kind <> 'call'"

// Its converse: the predicate of both stores' partial index messages_server_kinds (schema v11,
// written out the same in sqlite_migrations/ and pg_migrations/), which counts the server's rows
// above a watermark without reading the ordinary ones.
#define RINGCAST_SERVER_KIND_SQL "kind IN ('edit','delete','reaction','pin','unpin','system')"

// What a conversation's list shows (schema v11), in both stores' SQL: its newest ordinary message
// (a changed one shows its current state), and the caller's unread count of those: all above the
// watermark less the server's (through messages_server_kinds, so its cost is the changes above
// the watermark, not the messages). `c` is the conversations row, `uc` the caller's
// users_conversations row.
#define RC_LAST_ORDINARY_SEQ                                                                       \
  "(SELECT o.seq FROM messages o WHERE o.conversation_id = c.id AND o." RINGCAST_ORDINARY_KIND_SQL \
  " ORDER BY o.seq DESC LIMIT 1)"
#define RC_UNREAD_ORDINARY                                                                       \
  "(c.last_seq - uc.read_seq - (SELECT count(*) FROM messages o WHERE o.conversation_id = c.id " \
  "AND o.seq > uc.read_seq AND o." RINGCAST_SERVER_KIND_SQL "))"
inline constexpr std::string_view kLastOrdinarySeqSql = RC_LAST_ORDINARY_SEQ;
inline constexpr std::string_view kUnreadOrdinarySql = RC_UNREAD_ORDINARY;

}  // namespace ringcast::storage
