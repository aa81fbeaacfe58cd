-- profiles, logins (sessions) and blocks
--
-- Version 10 (issue 25, profiles and account control; storage/SCHEMA.md, "Profiles, logins and
-- blocks"): a profile per user (display name, avatar upload, status text) and the deletion
-- mark; the words of display names for user search; a row per login (a refresh-token family)
-- for the sessions list; blocks between users.
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN avatar_upload TEXT REFERENCES uploads(id) ON DELETE SET NULL;
ALTER TABLE users ADD COLUMN status_text TEXT;
ALTER TABLE users ADD COLUMN deleted_at INTEGER;
CREATE INDEX users_by_avatar ON users(avatar_upload) WHERE avatar_upload IS NOT NULL;

CREATE TABLE user_name_words (
  word    TEXT NOT NULL,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  PRIMARY KEY (word, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX user_name_words_by_user ON user_name_words(user_id);

CREATE TABLE logins (
  family       TEXT PRIMARY KEY NOT NULL,
  user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  user_agent   TEXT NOT NULL,
  address      TEXT NOT NULL
) STRICT;
CREATE INDEX logins_by_user ON logins(user_id);

CREATE TABLE blocks (
  blocker    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  blocked    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (blocker, blocked)
) STRICT, WITHOUT ROWID;
CREATE INDEX blocks_by_blocked ON blocks(blocked, blocker);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens(user_id);

INSERT INTO meta(key, value)
VALUES ('schema_v10_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
