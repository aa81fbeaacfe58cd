-- uploads and message attachments
--
-- Version 5 (issue 15): uploaded files and the messages that carry them (storage/SCHEMA.md).
CREATE TABLE uploads (
  id           TEXT PRIMARY KEY NOT NULL,
  owner_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  size         INTEGER NOT NULL CHECK (size >= 0),
  type         TEXT NOT NULL,
  sha256       TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  width        INTEGER NOT NULL DEFAULT 0,
  height       INTEGER NOT NULL DEFAULT 0,
  thumb_sha256 TEXT NOT NULL DEFAULT '',
  thumb_size   INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
CREATE INDEX uploads_owner ON uploads(owner_id);

CREATE TABLE message_attachments (
  message_id      INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  position        INTEGER NOT NULL,
  upload_id       TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
  conversation_id INTEGER NOT NULL,
  PRIMARY KEY (message_id, position)
) STRICT, WITHOUT ROWID;
CREATE INDEX message_attachments_upload ON message_attachments(upload_id, conversation_id);

ALTER TABLE messages ADD COLUMN attachments TEXT NOT NULL DEFAULT '';

INSERT INTO meta(key, value)
VALUES ('schema_v5_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
