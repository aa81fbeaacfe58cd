-- changes to messages: edits, deletions, reactions and pins
--
-- Version 11 (issue 25, changes to messages; storage/SCHEMA.md, "Changes to messages"): a change
-- (edit, delete, reaction, pin, unpin) is a row of its own in the conversation's stream that
-- names the message it changes by seq (`target`); the changed message keeps its current state
-- in its own row (`edited_at`; a deletion empties it and leaves `deleted_at`, `deleted_by`).
ALTER TABLE messages ADD COLUMN target INTEGER;
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
ALTER TABLE messages ADD COLUMN deleted_by INTEGER;
CREATE INDEX messages_by_target ON messages(conversation_id, target) WHERE target IS NOT NULL;
-- The server's rows (storage/message_kinds.h, RINGCAST_SERVER_KIND_SQL): unread counts subtract
-- them from last_seq - read_seq.
CREATE INDEX messages_server_kinds ON messages(conversation_id, seq)
WHERE kind IN ('edit','delete','reaction','pin','unpin','system');
-- A pinned message: when and by whom (pins per conversation, listed newest first).
ALTER TABLE messages ADD COLUMN pinned_at INTEGER;
ALTER TABLE messages ADD COLUMN pinned_by INTEGER;
CREATE INDEX messages_pinned ON messages(conversation_id, pinned_at) WHERE pinned_at IS NOT NULL;
-- A reaction change adds (1) or takes away (0) its emoji; NULL on every other row.
ALTER TABLE messages ADD COLUMN reaction_on INTEGER;
-- Who reacted to which message with what (one extended grapheme cluster, chat/reactions.h).
CREATE TABLE reactions (
  conversation_id INTEGER NOT NULL,
  seq             INTEGER NOT NULL,
  emoji           TEXT NOT NULL,
  user_id         INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (conversation_id, seq, emoji, user_id)
) STRICT, WITHOUT ROWID;
-- The files (hashes) of uploads a deletion released, for the upload sweeper to remove.
CREATE TABLE released_files (sha256 TEXT PRIMARY KEY NOT NULL) STRICT, WITHOUT ROWID;

INSERT INTO meta(key, value)
VALUES ('schema_v11_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
