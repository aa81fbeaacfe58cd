-- stars: each user's own marks on messages
--
-- Version 18 (issue 45, the sample operation; SQLite's version 18, storage/SCHEMA.md "Stars"): a
-- user stars a message to find it again. As on SQLite, a star is the user's alone and goes with
-- the account (the trigger). messages has no foreign keys here (version 1: the append path), and
-- no index by id: a star keeps the message's (conversation_id, seq) to reach it by its primary
-- key, and its id for the order a `stars` page reads them in (newest message first).
CREATE TABLE stars (
  user_id         bigint NOT NULL,
  message_id      bigint NOT NULL,
  conversation_id bigint NOT NULL,
  seq             bigint NOT NULL,
  starred_at      bigint NOT NULL,
  PRIMARY KEY (user_id, message_id)
);

CREATE FUNCTION rc_stars_go_with_the_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM stars WHERE user_id = NEW.id;
  RETURN NULL;
END
$$;
CREATE TRIGGER stars_go_with_the_account AFTER UPDATE OF deleted_at ON users
FOR EACH ROW WHEN (NEW.deleted_at IS NOT NULL)
EXECUTE FUNCTION rc_stars_go_with_the_account();
