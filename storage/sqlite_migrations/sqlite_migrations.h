// The SQL of each version of the SQLite schema, one file each (vNN_*.cc), for the table in
// migrations.cc. Rules for a new version: migrations.h's (append; never edit a shipped one).
// Pointers rather than arrays: versions 1 and 8 are joined at compile time from parts (Concat).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>

namespace ringcast::storage::sqlite_migrations {

extern const char* const kSchemaV1;
extern const char* const kSchemaV2;
extern const char* const kSchemaV3;
extern const char* const kSchemaV4;
extern const char* const kSchemaV5;
extern const char* const kSchemaV6;
extern const char* const kSchemaV7;
extern const char* const kSchemaV8;
extern const char* const kSchemaV9;
extern const char* const kSchemaV10;
extern const char* const kSchemaV11;
extern const char* const kSchemaV12;
extern const char* const kSchemaV13;
extern const char* const kSchemaV14;
extern const char* const kSchemaV15;
extern const char* const kSchemaV16;
extern const char* const kSchemaV17;

// SQL text joined at compile time, for a statement that more than one version runs.
template <size_t... N>
constexpr std::array<char, (N + ...) - sizeof...(N) + 1> Concat(const char (&... parts)[N]) {
  std::array<char, (N + ...) - sizeof...(N) + 1> out{};
  size_t at = 0;
  ((std::copy_n(parts, N - 1, out.begin() + at), at += N - 1), ...);
  return out;
}

// seq is gap-free per conversation: a message must take exactly last_seq + 1, and inserting
// it advances last_seq in the same statement. A NULL comparison (unknown conversation) does not
// fire, so the foreign key reports that case instead. Created with the messages table (version
// 1), and again when a migration rebuilds it (version 8).
inline constexpr char kMessagesOrderTriggers[] = R"sql(
CREATE TRIGGER messages_seq_gap_free BEFORE INSERT ON messages
WHEN NEW.seq <> (SELECT last_seq + 1 FROM conversations WHERE id = NEW.conversation_id)
BEGIN
  SELECT RAISE(ABORT, 'messages.seq must be conversations.last_seq + 1');
END;

CREATE TRIGGER messages_advance_last_seq AFTER INSERT ON messages
BEGIN
  UPDATE conversations SET last_seq = NEW.seq WHERE id = NEW.conversation_id;
END;

CREATE TRIGGER messages_position_immutable BEFORE UPDATE OF conversation_id, seq ON messages
BEGIN
  SELECT RAISE(ABORT, 'messages.conversation_id and messages.seq never change');
END;
)sql";

}  // namespace ringcast::storage::sqlite_migrations
