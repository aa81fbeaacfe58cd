-- mentions, mute and notified watermarks
--
-- Version 4: mentions, mute and notifications (issue 14; SQLite's version 3, storage/SCHEMA.md).
-- Existing memberships start notified up to now: an upgrade does not notify the history.
ALTER TABLE users_conversations
  ADD COLUMN notified_seq bigint NOT NULL DEFAULT 0 CHECK (notified_seq >= 0),
  ADD COLUMN muted_until bigint;
UPDATE users_conversations uc SET notified_seq = c.last_seq
FROM conversations c WHERE c.id = uc.conversation_id;

CREATE TABLE mentions (
  user_id         bigint NOT NULL,
  message_id      bigint NOT NULL,
  conversation_id bigint NOT NULL,
  seq             bigint NOT NULL,
  PRIMARY KEY (user_id, message_id)
);
CREATE INDEX mentions_by_conversation ON mentions (conversation_id, user_id, seq);
