-- replies and threads
--
-- Version 14 (issue 25; SQLite's version 14, storage/SCHEMA.md "Replies and threads"): a reply
-- names its parent by seq, a thread reply its thread's root; a root keeps its thread's count
-- and newest reply, updated by append_batch's statement that stores the reply.
ALTER TABLE messages ADD COLUMN reply_to bigint;
ALTER TABLE messages ADD COLUMN thread_root bigint;
ALTER TABLE messages ADD COLUMN reply_count bigint NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN last_reply_seq bigint;
ALTER TABLE messages ADD COLUMN last_reply_at bigint;
CREATE INDEX messages_by_thread ON messages (conversation_id, thread_root, seq)
WHERE thread_root IS NOT NULL;
CREATE TABLE thread_reads (
  conversation_id bigint NOT NULL,
  root_seq        bigint NOT NULL,
  user_id         bigint NOT NULL,
  read_seq        bigint NOT NULL,
  PRIMARY KEY (conversation_id, root_seq, user_id)
);
