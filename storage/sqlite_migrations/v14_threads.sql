-- replies and threads
--
-- Version 14 (issue 25, replies and threads; storage/SCHEMA.md, "Replies and threads"): a reply
-- names its parent by seq, a thread reply its thread's root; a root keeps its thread's count
-- and newest reply, updated by the append that stores the reply.
ALTER TABLE messages ADD COLUMN reply_to INTEGER;
ALTER TABLE messages ADD COLUMN thread_root INTEGER;
ALTER TABLE messages ADD COLUMN reply_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN last_reply_seq INTEGER;
ALTER TABLE messages ADD COLUMN last_reply_at INTEGER;
CREATE INDEX messages_by_thread ON messages(conversation_id, thread_root, seq)
WHERE thread_root IS NOT NULL;
-- Each member's read watermark per thread: the replies by others above it are unread.
CREATE TABLE thread_reads (
  conversation_id INTEGER NOT NULL,
  root_seq        INTEGER NOT NULL,
  user_id         INTEGER NOT NULL,
  read_seq        INTEGER NOT NULL,
  PRIMARY KEY (conversation_id, root_seq, user_id)
) STRICT, WITHOUT ROWID;

INSERT INTO meta(key, value)
VALUES ('schema_v14_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
