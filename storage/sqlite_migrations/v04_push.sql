-- web push subscriptions, account email, email digests
--
-- Version 4: Web Push subscriptions, an optional email per account, and the unread digest's
-- watermark per member (notify/push, notify/email; storage/SCHEMA.md). Subscription keys are
-- kept as the browser wrote them (base64url text).
CREATE TABLE push_subscriptions (
  endpoint   TEXT PRIMARY KEY NOT NULL,
  user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  p256dh     TEXT NOT NULL,
  auth       TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX push_subscriptions_by_user ON push_subscriptions(user_id, created_at);

ALTER TABLE users ADD COLUMN email TEXT;
CREATE INDEX users_with_email ON users(id) WHERE email IS NOT NULL;

CREATE TABLE email_digests (
  conversation_id INTEGER NOT NULL,
  user_id         INTEGER NOT NULL,
  emailed_seq     INTEGER NOT NULL CHECK (emailed_seq >= 0),
  PRIMARY KEY (conversation_id, user_id),
  FOREIGN KEY (conversation_id, user_id)
    REFERENCES users_conversations(conversation_id, user_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

INSERT INTO meta(key, value)
VALUES ('schema_v4_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
