-- group roles and topics
--
-- Version 12 (issue 25, groups; SQLite's version 12, storage/SCHEMA.md "Groups"): a role per
-- membership and a topic per group. The rules are storage/group_rules.h's: rc_group_denial and
-- the functions below are their copy (a change to one is a change to both), and the system
-- entries' bodies are the same JSON as its SystemBody. Denials are store_types.h's Denial:
-- 12 not admin, 13 owner protected, 14 last owner.
ALTER TABLE users_conversations ADD COLUMN role text NOT NULL DEFAULT 'member'
  CHECK (role IN ('owner', 'admin', 'member'));
ALTER TABLE conversations ADD COLUMN topic text;
-- No creator was stored before: an existing group's owner is its earliest member.
UPDATE users_conversations uc SET role = 'owner'
FROM (SELECT DISTINCT ON (f.conversation_id) f.conversation_id, f.user_id
      FROM users_conversations f JOIN conversations c ON c.id = f.conversation_id AND c.is_group
      ORDER BY f.conversation_id, f.joined_at, f.user_id) o
WHERE uc.conversation_id = o.conversation_id AND uc.user_id = o.user_id;

CREATE OR REPLACE FUNCTION rc_may_delete(p_conv bigint, p_author bigint, p_actor bigint)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT p_author = p_actor OR EXISTS (SELECT 1 FROM users_conversations
    WHERE conversation_id = p_conv AND user_id = p_actor AND role IN ('owner', 'admin'))
$$;

DROP FUNCTION rc_state(bigint);
CREATE FUNCTION rc_state(p_conv bigint, OUT name text, OUT is_group boolean, OUT last_seq bigint,
                         OUT members bigint[], OUT delivered bigint[], OUT reads bigint[],
                         OUT topic text, OUT roles text[])
LANGUAGE sql AS $$
  SELECT c.name, c.is_group, c.last_seq,
         coalesce((SELECT array_agg(user_id ORDER BY user_id) FROM users_conversations
                   WHERE conversation_id = p_conv), '{}'),
         coalesce((SELECT array_agg(delivered_seq ORDER BY user_id) FROM users_conversations
                   WHERE conversation_id = p_conv), '{}'),
         coalesce((SELECT array_agg(read_seq ORDER BY user_id) FROM users_conversations
                   WHERE conversation_id = p_conv), '{}'),
         c.topic,
         coalesce((SELECT array_agg(role ORDER BY user_id) FROM users_conversations
                   WHERE conversation_id = p_conv), '{}')
  FROM conversations c WHERE c.id = p_conv
$$;

CREATE OR REPLACE FUNCTION rc_create_conversation(p_creator bigint, p_members bigint[],
                                                  p_name text, p_group boolean, p_now bigint,
                                                  OUT denial int, OUT created boolean,
                                                  OUT conv bigint)
LANGUAGE plpgsql AS $$
DECLARE
  everyone bigint[] := ARRAY(SELECT DISTINCT u FROM unnest(p_members || p_creator) u ORDER BY u);
  key text;
BEGIN
  denial := 0; created := false; conv := 0;
  IF (SELECT count(*) FROM users WHERE id = ANY (everyone)) <> cardinality(everyone) THEN
    denial := 4; RETURN;
  END IF;
  IF NOT p_group THEN
    key := everyone[1] || ':' || everyone[cardinality(everyone)];
    SELECT id INTO conv FROM conversations WHERE direct_key = key;
    IF FOUND THEN RETURN; END IF;
  END IF;
  INSERT INTO conversations (name, is_group, created_at, direct_key)
  VALUES (p_name, p_group, p_now, key) ON CONFLICT (direct_key) DO NOTHING RETURNING id INTO conv;
  IF conv IS NULL THEN  -- The same 1:1, created by another node since the lookup.
    SELECT id INTO conv FROM conversations WHERE direct_key = key;
    RETURN;
  END IF;
  INSERT INTO users_conversations (conversation_id, user_id, joined_at, role)
  SELECT conv, u, p_now, CASE WHEN p_group AND u = p_creator THEN 'owner' ELSE 'member' END
  FROM unnest(everyone) u;
  created := true;
END $$;

-- The caller's role in a group it changes, under the conversation's row lock (concurrent
-- changes from several nodes serialize): denial 1 no such conversation, 2 not a member,
-- 3 not a group.
CREATE FUNCTION rc_lock_group_role(p_conv bigint, p_caller bigint, OUT denial int,
                                   OUT role text)
LANGUAGE plpgsql AS $$
DECLARE
  grp boolean;
BEGIN
  SELECT is_group INTO grp FROM conversations WHERE id = p_conv FOR UPDATE;
  IF NOT FOUND THEN denial := 1; RETURN; END IF;
  SELECT uc.role INTO role FROM users_conversations uc
  WHERE uc.conversation_id = p_conv AND uc.user_id = p_caller;
  IF NOT FOUND THEN denial := 2; RETURN; END IF;
  denial := CASE WHEN grp THEN 0 ELSE 3 END;
END $$;

-- Appends a system entry (target 0, not NULL: no change can name it) as the next seq, read
-- by its actor.
CREATE FUNCTION rc_append_system(p_conv bigint, p_actor bigint, p_body text, p_now bigint,
                                 OUT id bigint, OUT seq bigint)
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE conversations c SET last_seq = c.last_seq + 1 WHERE c.id = p_conv
  RETURNING c.last_seq INTO seq;
  INSERT INTO messages (conversation_id, seq, sender_id, kind, body, sent_at, client_msg_id,
                        attachments, target)
  VALUES (p_conv, seq, p_actor, 'system', p_body, p_now, 'system:' || p_conv || ':' || seq, '', 0)
  RETURNING messages.id INTO id;
  -- As a sender has read its own message (SQLite's trigger messages_sender_has_read).
  UPDATE users_conversations uc SET read_seq = greatest(uc.read_seq, seq),
    delivered_seq = greatest(uc.delivered_seq, seq)
  WHERE uc.conversation_id = p_conv AND uc.user_id = p_actor;
END $$;

CREATE FUNCTION rc_system_body(p_action text, p_actor bigint, p_users bigint[], p_role text,
                               p_name text, p_topic text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT '{"action":' || to_json(p_action)::text || ',"actor":' || p_actor
    || CASE WHEN cardinality(p_users) > 0
            THEN ',"users":[' || array_to_string(p_users, ',') || ']' ELSE '' END
    || coalesce(',"role":' || to_json(p_role)::text, '')
    || coalesce(',"name":' || to_json(p_name)::text, '')
    || coalesce(',"topic":' || to_json(p_topic)::text, '') || '}'
$$;

DROP FUNCTION rc_add_members(bigint, bigint, bigint[], int, bigint);
CREATE FUNCTION rc_add_members(p_conv bigint, p_caller bigint, p_users bigint[],
                               p_max int, p_now bigint, OUT denial int, OUT changed boolean,
                               OUT sys_id bigint, OUT sys_seq bigint, OUT sys_body text)
LANGUAGE plpgsql AS $$
DECLARE
  wanted bigint[] := ARRAY(SELECT DISTINCT u FROM unnest(p_users) u);
  newcomers bigint[];
  current int;
  caller_role text;
BEGIN
  changed := false;
  SELECT l.denial, l.role INTO denial, caller_role FROM rc_lock_group_role(p_conv, p_caller) l;
  IF denial <> 0 THEN RETURN; END IF;
  IF caller_role NOT IN ('owner', 'admin') THEN denial := 12; RETURN; END IF;
  IF (SELECT count(*) FROM users WHERE id = ANY (wanted)) <> cardinality(wanted) THEN
    denial := 4; RETURN;
  END IF;
  SELECT count(*) INTO current FROM users_conversations WHERE conversation_id = p_conv;
  newcomers := ARRAY(SELECT u FROM unnest(wanted) u
                     WHERE NOT EXISTS (SELECT 1 FROM users_conversations
                                       WHERE conversation_id = p_conv AND user_id = u)
                     ORDER BY u);
  IF current + cardinality(newcomers) > p_max THEN denial := 6; RETURN; END IF;
  IF cardinality(newcomers) = 0 THEN RETURN; END IF;
  -- A newcomer starts with the history read, not with every old message unread.
  INSERT INTO users_conversations (conversation_id, user_id, joined_at, delivered_seq, read_seq)
  SELECT p_conv, u, p_now, c.last_seq, c.last_seq
  FROM unnest(newcomers) u CROSS JOIN conversations c WHERE c.id = p_conv;
  sys_body := rc_system_body('added', p_caller, newcomers, NULL, NULL, NULL);
  SELECT a.id, a.seq INTO sys_id, sys_seq FROM rc_append_system(p_conv, p_caller, sys_body, p_now) a;
  changed := true;
END $$;

DROP FUNCTION rc_remove_member(bigint, bigint, bigint);
CREATE FUNCTION rc_remove_member(p_conv bigint, p_caller bigint, p_user bigint, p_now bigint,
                                 OUT denial int, OUT changed boolean, OUT sys_id bigint,
                                 OUT sys_seq bigint, OUT sys_body text)
LANGUAGE plpgsql AS $$
DECLARE
  caller_role text;
  target_role text;
BEGIN
  changed := false;
  SELECT l.denial, l.role INTO denial, caller_role FROM rc_lock_group_role(p_conv, p_caller) l;
  IF denial <> 0 THEN RETURN; END IF;
  SELECT uc.role INTO target_role FROM users_conversations uc
  WHERE uc.conversation_id = p_conv AND uc.user_id = p_user;
  IF NOT FOUND THEN denial := 1; RETURN; END IF;
  denial := CASE
    WHEN p_caller = p_user THEN CASE WHEN caller_role = 'owner' THEN 14 ELSE 0 END
    WHEN target_role = 'owner' THEN 13
    WHEN caller_role NOT IN ('owner', 'admin') THEN 12
    WHEN target_role = 'admin' AND caller_role <> 'owner' THEN 12
    ELSE 0 END;
  IF denial <> 0 THEN RETURN; END IF;
  -- The entry comes first: the member it removes is still there to be sent it.
  sys_body := rc_system_body(CASE WHEN p_caller = p_user THEN 'left' ELSE 'removed' END,
                             p_caller, ARRAY[p_user], NULL, NULL, NULL);
  SELECT a.id, a.seq INTO sys_id, sys_seq FROM rc_append_system(p_conv, p_caller, sys_body, p_now) a;
  DELETE FROM users_conversations WHERE conversation_id = p_conv AND user_id = p_user;
  changed := true;
END $$;

-- p_op: 'role' (p_user becomes p_role), 'transfer' (p_user becomes the owner), 'settings'
-- (p_name and/or p_topic, NULL: unchanged; topic '' clears it).
CREATE FUNCTION rc_change_group(p_op text, p_conv bigint, p_caller bigint, p_user bigint,
                                p_role text, p_name text, p_topic text, p_now bigint,
                                OUT denial int, OUT changed boolean, OUT sys_id bigint,
                                OUT sys_seq bigint, OUT sys_body text)
LANGUAGE plpgsql AS $$
DECLARE
  caller_role text;
  target_role text;
  old_name text;
  old_topic text;
  new_name text;
  new_topic text;
BEGIN
  changed := false;
  SELECT l.denial, l.role INTO denial, caller_role FROM rc_lock_group_role(p_conv, p_caller) l;
  IF denial <> 0 THEN RETURN; END IF;
  IF p_op = 'settings' THEN
    IF caller_role NOT IN ('owner', 'admin') THEN denial := 12; RETURN; END IF;
    SELECT c.name, coalesce(c.topic, '') INTO old_name, old_topic FROM conversations c
    WHERE c.id = p_conv;
    new_name := CASE WHEN p_name IS DISTINCT FROM old_name THEN p_name END;
    new_topic := CASE WHEN p_topic <> old_topic THEN p_topic END;
    IF new_name IS NULL AND new_topic IS NULL THEN RETURN; END IF;
    UPDATE conversations c SET name = coalesce(new_name, c.name),
      topic = CASE WHEN new_topic IS NULL THEN c.topic ELSE nullif(new_topic, '') END
    WHERE c.id = p_conv;
    sys_body := rc_system_body('updated', p_caller, '{}', NULL, new_name, new_topic);
  ELSE
    SELECT uc.role INTO target_role FROM users_conversations uc
    WHERE uc.conversation_id = p_conv AND uc.user_id = p_user;
    IF NOT FOUND THEN denial := 1; RETURN; END IF;
    IF caller_role <> 'owner' THEN denial := 12; RETURN; END IF;
    IF p_op = 'role' THEN
      IF target_role = 'owner' THEN denial := 13; RETURN; END IF;
      IF target_role = p_role THEN RETURN; END IF;
      UPDATE users_conversations SET role = p_role
      WHERE conversation_id = p_conv AND user_id = p_user;
      sys_body := rc_system_body('role', p_caller, ARRAY[p_user], p_role, NULL, NULL);
    ELSE
      IF p_user = p_caller THEN RETURN; END IF;
      UPDATE users_conversations
      SET role = CASE WHEN user_id = p_user THEN 'owner' ELSE 'admin' END
      WHERE conversation_id = p_conv AND user_id IN (p_user, p_caller);
      sys_body := rc_system_body('transferred', p_caller, ARRAY[p_user], NULL, NULL, NULL);
    END IF;
  END IF;
  SELECT a.id, a.seq INTO sys_id, sys_seq FROM rc_append_system(p_conv, p_caller, sys_body, p_now) a;
  changed := true;
END $$;
