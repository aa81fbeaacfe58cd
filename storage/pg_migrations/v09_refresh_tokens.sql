-- refresh tokens and the instance id
--
-- Version 9: refresh tokens (POST /api/token/refresh; SQLite's version 9) and the database's
-- instance id, which a client binds what it keeps (its outbox) to: a new database, a new id.
-- gen_random_uuid() is built in since PostgreSQL 13.
CREATE TABLE refresh_tokens (
  token_hash text PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  family     text NOT NULL,
  expires_at bigint NOT NULL,
  used_at    bigint
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);
INSERT INTO server_settings (name, value)
VALUES ('instance_id', replace(gen_random_uuid()::text, '-', ''))
ON CONFLICT (name) DO NOTHING;
