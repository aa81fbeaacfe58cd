-- uploads and message attachments
--
-- Version 6 (issue 15): uploaded files and the messages that carry them (storage/SCHEMA.md).
CREATE TABLE uploads (
  id           text PRIMARY KEY,
  owner_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name         text NOT NULL,
  size         bigint NOT NULL CHECK (size >= 0),
  type         text NOT NULL,
  sha256       text NOT NULL,
  created_at   bigint NOT NULL,
  width        bigint NOT NULL DEFAULT 0,
  height       bigint NOT NULL DEFAULT 0,
  thumb_sha256 text NOT NULL DEFAULT '',
  thumb_size   bigint NOT NULL DEFAULT 0
);
CREATE INDEX uploads_owner ON uploads (owner_id);

-- message_id has no foreign key, as messages has none (its key is (conversation_id, seq), and
-- the append path is kept free of per-row checks); the append writes both in one transaction.
CREATE TABLE message_attachments (
  message_id      bigint NOT NULL,
  position        int NOT NULL,
  upload_id       text NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
  conversation_id bigint NOT NULL,
  PRIMARY KEY (message_id, position)
);
CREATE INDEX message_attachments_upload ON message_attachments (upload_id, conversation_id);

ALTER TABLE messages ADD COLUMN attachments text NOT NULL DEFAULT '';
