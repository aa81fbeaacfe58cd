-- profiles, logins (sessions) and blocks
--
-- Version 10 (issue 25; SQLite's version 10, storage/SCHEMA.md "Profiles, logins and blocks"):
-- profiles, the words of display names for user search, a row per login, blocks.
ALTER TABLE users ADD COLUMN display_name text;
ALTER TABLE users ADD COLUMN avatar_upload text REFERENCES uploads(id) ON DELETE SET NULL;
ALTER TABLE users ADD COLUMN status_text text;
ALTER TABLE users ADD COLUMN deleted_at bigint;
CREATE INDEX users_by_avatar ON users (avatar_upload) WHERE avatar_upload IS NOT NULL;
CREATE TABLE user_name_words (
  word    text NOT NULL COLLATE "C",
  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  PRIMARY KEY (word, user_id)
);
CREATE INDEX user_name_words_by_user ON user_name_words (user_id);
CREATE TABLE logins (
  family       text PRIMARY KEY,
  user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at   bigint NOT NULL,
  last_used_at bigint NOT NULL,
  user_agent   text NOT NULL,
  address      text NOT NULL
);
CREATE INDEX logins_by_user ON logins (user_id);
CREATE TABLE blocks (
  blocker    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  blocked    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at bigint NOT NULL,
  PRIMARY KEY (blocker, blocked)
);
CREATE INDEX blocks_by_blocked ON blocks (blocked, blocker);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id);
