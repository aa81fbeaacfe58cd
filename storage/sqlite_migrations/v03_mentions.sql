-- mentions, mute and notified watermarks
--
-- Version 3: mentions, mute and notifications (issue 14; notify/README.md). notified_seq is
-- the Notifier's watermark (a notification covering up to it was delivered, or was not due),
-- muted_until the member's mute (NULL: not muted); existing memberships start notified up to
-- now, so that an upgrade does not notify the whole history. mentions holds one row per
-- mentioned member of a message, found by user for GET /api/mentions (newest message id first)
-- and by conversation for the unread counts.
ALTER TABLE users_conversations ADD COLUMN notified_seq INTEGER NOT NULL DEFAULT 0
  CHECK (notified_seq >= 0);
ALTER TABLE users_conversations ADD COLUMN muted_until INTEGER;
UPDATE users_conversations
SET notified_seq = (SELECT last_seq FROM conversations WHERE id = conversation_id);

CREATE TABLE mentions (
  user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  message_id      INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  seq             INTEGER NOT NULL,
  PRIMARY KEY (user_id, message_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX mentions_by_conversation ON mentions(conversation_id, user_id, seq);

INSERT INTO meta(key, value)
VALUES ('schema_v3_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
