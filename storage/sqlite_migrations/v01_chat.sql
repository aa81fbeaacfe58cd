-- chat service: users, conversations, members, messages, revoked tokens
--
-- Version 1: the chat service (issue #4). Every table is STRICT so a value of the wrong type is
-- an error rather than silently stored; all times are INTEGER milliseconds since the Unix
-- epoch (UTC). The reasons behind each column and index are in storage/SCHEMA.md.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value ANY NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE users (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  username      TEXT NOT NULL COLLATE NOCASE UNIQUE,
  password_hash TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  last_online   INTEGER
) STRICT;

CREATE TABLE conversations (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  name       TEXT,
  is_group   INTEGER NOT NULL CHECK (is_group IN (0, 1)),
  created_at INTEGER NOT NULL,
  last_seq   INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
  direct_key TEXT UNIQUE,
  CHECK ((is_group = 0) = (direct_key IS NOT NULL))
) STRICT;

CREATE TABLE users_conversations (
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  joined_at       INTEGER NOT NULL,
  delivered_seq   INTEGER NOT NULL DEFAULT 0 CHECK (delivered_seq >= 0),
  read_seq        INTEGER NOT NULL DEFAULT 0 CHECK (read_seq >= 0),
  PRIMARY KEY (conversation_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX users_conversations_by_user ON users_conversations(user_id);

CREATE TABLE messages (
  id              INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  seq             INTEGER NOT NULL CHECK (seq > 0),
  sender_id       INTEGER NOT NULL REFERENCES users(id),
  kind            TEXT NOT NULL DEFAULT 'text',
  body            TEXT NOT NULL,
  sent_at         INTEGER NOT NULL,
  delivered_at    INTEGER,
  seen_at         INTEGER,
  client_msg_id   TEXT,
  UNIQUE (conversation_id, seq),
  UNIQUE (sender_id, client_msg_id)
) STRICT;


CREATE TRIGGER messages_seq_gap_free BEFORE INSERT ON messages
WHEN NEW.seq <> (SELECT last_seq + 1 FROM conversations WHERE id = NEW.conversation_id)
BEGIN
  SELECT RAISE(ABORT, 'messages.seq must be conversations.last_seq + 1');
END;

CREATE TRIGGER messages_advance_last_seq AFTER INSERT ON messages
BEGIN
  UPDATE conversations SET last_seq = NEW.seq WHERE id = NEW.conversation_id;
END;

CREATE TRIGGER messages_position_immutable BEFORE UPDATE OF conversation_id, seq ON messages
BEGIN
  SELECT RAISE(ABORT, 'messages.conversation_id and messages.seq never change');
END;


CREATE TABLE revoked_tokens (
  jti        TEXT PRIMARY KEY NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens(expires_at);

INSERT INTO meta(key, value)
VALUES ('schema_v1_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
