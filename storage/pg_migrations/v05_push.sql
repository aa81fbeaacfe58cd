-- web push subscriptions, account email, email digests
--
-- Version 5: Web Push subscriptions, an optional email per account, and the unread digest's
-- watermark per member: SQLite's version 4 (storage/SCHEMA.md). Statements: pg_push_store.cc.
CREATE TABLE push_subscriptions (
  endpoint   text PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  p256dh     text NOT NULL,
  auth       text NOT NULL,
  created_at bigint NOT NULL
);
CREATE INDEX push_subscriptions_by_user ON push_subscriptions (user_id, created_at);

ALTER TABLE users ADD COLUMN email text;
CREATE INDEX users_with_email ON users (id) WHERE email IS NOT NULL;

CREATE TABLE email_digests (
  conversation_id bigint NOT NULL,
  user_id         bigint NOT NULL,
  emailed_seq     bigint NOT NULL CHECK (emailed_seq >= 0),
  PRIMARY KEY (conversation_id, user_id),
  FOREIGN KEY (conversation_id, user_id)
    REFERENCES users_conversations (conversation_id, user_id) ON DELETE CASCADE
);
