-- search: an FTS5 index of message bodies
--
-- Version 13 (issue 25, search; storage/SCHEMA.md "Search"): an external-content FTS5 table over
-- the bodies of ordinary messages that are not deleted (the text stays in `messages` alone).
-- New messages are not indexed by a trigger: FTS5 writes a segment per transaction, and one per
-- batch of appends cost 40% of the writes' throughput. The store adds them in bulk
-- (a job on the writer until version 16), every --search-index-interval-ms, up to the id it records
-- in search_progress. Changes to rows already indexed are kept in the same transaction by the
-- triggers: an edit takes out the old body and puts in the new, a deletion (body emptied,
-- deleted_at set) takes it out. FTS5's 'delete' must name the exact text that was indexed, which
-- is why each trigger tests the same predicate as the one that indexed the row, and the row
-- being at or below indexed_upto; an update's two steps are one trigger, in that order (SQLite
-- does not promise an order between triggers, and the 'delete' after the insert of the same
-- rowid would take the new row's sizes with it). unicode61 with diacritics removed: "café" finds
-- "cafe". The predicate, written out in each trigger, is storage/message_kinds.h's ordinary kinds.
CREATE VIRTUAL TABLE messages_fts USING fts5(
  body, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
CREATE TABLE search_progress (indexed_upto INTEGER NOT NULL);
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body, deleted_at ON messages
WHEN OLD.id <= (SELECT indexed_upto FROM search_progress)
BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, body) SELECT 'delete', OLD.id, OLD.body
  WHERE OLD.kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND OLD.deleted_at IS NULL;
  INSERT INTO messages_fts(rowid, body) SELECT NEW.id, NEW.body
  WHERE NEW.kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND NEW.deleted_at IS NULL;
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN OLD.kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND OLD.deleted_at IS NULL
  AND OLD.id <= (SELECT indexed_upto FROM search_progress)
BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', OLD.id, OLD.body);
END;
INSERT INTO messages_fts(rowid, body)
SELECT id, body FROM messages
WHERE kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND deleted_at IS NULL;
INSERT INTO search_progress(indexed_upto) SELECT coalesce(max(id), 0) FROM messages;

INSERT INTO meta(key, value)
VALUES ('schema_v13_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
