-- refresh tokens and the instance id
--
-- Version 9: refresh tokens (POST /api/token/refresh, storage/SCHEMA.md) and the database's
-- instance id, which a client binds what it keeps (its outbox) to: a new database, a new id.
CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  family     TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens(expires_at);

INSERT INTO meta(key, value) VALUES ('instance_id', lower(hex(randomblob(16))));
INSERT INTO meta(key, value)
VALUES ('schema_v9_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
