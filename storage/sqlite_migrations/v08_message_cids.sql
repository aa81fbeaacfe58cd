-- the cid index leaves messages for message_cids, filled in bulk
--
-- Version 8 (issue 32): the cid de-duplication index leaves `messages`. Kept there, every append
-- wrote a leaf of its own (entries are clustered by sender, so each active sender has a hot
-- leaf) and that index alone was half of the WAL written per message. message_cids holds the
-- same (sender, cid) → message pairs, but SqliteChatStore adds them in bulk, sorted, from the
-- newest messages it keeps in memory (RecentCids, storage/README.md "WAL bytes per message");
-- every message below meta 'cids_merged_below' is in it. SQLite cannot drop a UNIQUE constraint,
-- so the table is rebuilt (the procedure of SQLite's "ALTER TABLE" page: Migrate runs with
-- foreign keys off and checks them before it commits), and its triggers come back with it.
CREATE TABLE messages_v8 (
  id              INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  seq             INTEGER NOT NULL CHECK (seq > 0),
  sender_id       INTEGER NOT NULL REFERENCES users(id),
  kind            TEXT NOT NULL DEFAULT 'text',
  body            TEXT NOT NULL,
  sent_at         INTEGER NOT NULL,
  delivered_at    INTEGER,
  seen_at         INTEGER,
  client_msg_id   TEXT,
  attachments     TEXT NOT NULL DEFAULT '',
  UNIQUE (conversation_id, seq)
) STRICT;
INSERT INTO messages_v8(id, conversation_id, seq, sender_id, kind, body, sent_at, delivered_at,
                        seen_at, client_msg_id, attachments)
SELECT id, conversation_id, seq, sender_id, kind, body, sent_at, delivered_at, seen_at,
       client_msg_id, attachments FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v8 RENAME TO messages;

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

CREATE TRIGGER messages_sender_has_read AFTER INSERT ON messages
BEGIN
  UPDATE users_conversations
  SET read_seq = max(read_seq, NEW.seq), delivered_seq = max(delivered_seq, NEW.seq)
  WHERE conversation_id = NEW.conversation_id AND user_id = NEW.sender_id AND read_seq < NEW.seq;
END;

CREATE TABLE message_cids (
  sender_id     INTEGER NOT NULL,
  client_msg_id TEXT NOT NULL,
  message_id    INTEGER NOT NULL,
  PRIMARY KEY (sender_id, client_msg_id)
) STRICT, WITHOUT ROWID;
INSERT INTO message_cids(sender_id, client_msg_id, message_id)
SELECT sender_id, client_msg_id, id FROM messages WHERE client_msg_id IS NOT NULL
ORDER BY sender_id, client_msg_id;

INSERT INTO meta(key, value)
VALUES ('cids_merged_below', (SELECT coalesce(max(id), 0) + 1 FROM messages)),
       ('schema_v8_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
