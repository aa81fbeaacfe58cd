-- stars: each user's own marks on messages
--
-- Version 18 (issue 45, the sample operation; storage/SCHEMA.md "Stars"): a user stars a message
-- to find it again (the `star` and `stars` requests). A star is the user's alone: no other member
-- sees it, and it goes with the message (a conversation deleted) or with the account (deleted:
-- the trigger, so that DeleteAccount need not know every private table). Keyed by user, then
-- message id, which is the order a `stars` page reads them in (newest message first).
CREATE TABLE stars (
  user_id    INTEGER NOT NULL REFERENCES users(id),
  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  starred_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, message_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX stars_by_message ON stars(message_id);

CREATE TRIGGER stars_go_with_the_account AFTER UPDATE OF deleted_at ON users
WHEN NEW.deleted_at IS NOT NULL
BEGIN
  DELETE FROM stars WHERE user_id = NEW.id;
END;

INSERT INTO meta(key, value)
VALUES ('schema_v18_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
