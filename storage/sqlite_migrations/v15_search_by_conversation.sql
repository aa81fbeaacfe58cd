-- search: the index keyed by conversation
--
-- Version 15 (issue 25, search latency; storage/SCHEMA.md "Search"): the index is keyed by
-- conversation, so a search reads only the caller's conversations. The FTS5 rowid is
-- (conversation_id << 32) | seq: every conversation's messages are one range of it, which FTS5
-- seeks to in each word's doclist (sqlite_search_store.cc). Version 13's rowid, the message id,
-- spread a conversation over the whole index, and a common word's search walked every message
-- in the database that held it before it could test membership. Contentless (`content=''`):
-- rowid no longer names a `messages` row, so FTS5 cannot read the text back, and snippets are
-- made from the bodies (Highlight, search_store.h), as on PostgreSQL. The triggers and the bulk
-- add are version 13's with the new key; FTS5's 'delete' works on contentless tables as on
-- external-content ones, given the text that was indexed.
DROP TRIGGER messages_fts_update;
DROP TRIGGER messages_fts_delete;
DROP TABLE messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5(
  body, content='', tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body, deleted_at ON messages
WHEN OLD.id <= (SELECT indexed_upto FROM search_progress)
BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, body)
  SELECT 'delete', (OLD.conversation_id << 32) | OLD.seq, OLD.body
  WHERE OLD.kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND OLD.deleted_at IS NULL;
  INSERT INTO messages_fts(rowid, body) SELECT (NEW.conversation_id << 32) | NEW.seq, NEW.body
  WHERE NEW.kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND NEW.deleted_at IS NULL;
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN OLD.kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND OLD.deleted_at IS NULL
  AND OLD.id <= (SELECT indexed_upto FROM search_progress)
BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, body)
  VALUES ('delete', (OLD.conversation_id << 32) | OLD.seq, OLD.body);
END;
INSERT INTO messages_fts(rowid, body)
SELECT (conversation_id << 32) | seq, body FROM messages
WHERE kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND deleted_at IS NULL;
UPDATE search_progress SET indexed_upto = (SELECT coalesce(max(id), 0) FROM messages);

INSERT INTO meta(key, value)
VALUES ('schema_v15_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
