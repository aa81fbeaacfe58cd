-- group avatars
--
-- Version 16 (issue 25, group avatars; SQLite's version 17, storage/SCHEMA.md "Groups"): a
-- group's avatar, an image upload of the admin who sets it. As on SQLite, the `updated` system
-- entry that sets it carries the upload as its attachment, which lets the members read the file
-- and keeps the sweep and message deletions off it. rc_state gains the avatar as its last column,
-- rc_change_group a p_avatar ('' clears it; NULL: unchanged) and denial 15 (not an image of the
-- caller's own), rc_system_body the "avatar" field.
ALTER TABLE conversations ADD COLUMN avatar_upload text REFERENCES uploads(id) ON DELETE SET NULL;

DROP FUNCTION rc_state(bigint);
CREATE FUNCTION rc_state(p_conv bigint, OUT name text, OUT is_group boolean, OUT last_seq bigint,
                         OUT members bigint[], OUT delivered bigint[], OUT reads bigint[],
                         OUT topic text, OUT roles text[], OUT avatar text)
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
                   WHERE conversation_id = p_conv), '{}'),
         c.avatar_upload
  FROM conversations c WHERE c.id = p_conv
$$;

DROP FUNCTION rc_system_body(text, bigint, bigint[], text, text, text);
CREATE FUNCTION rc_system_body(p_action text, p_actor bigint, p_users bigint[], p_role text,
                               p_name text, p_topic text, p_avatar text DEFAULT NULL)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT '{"action":' || to_json(p_action)::text || ',"actor":' || p_actor
    || CASE WHEN cardinality(p_users) > 0
            THEN ',"users":[' || array_to_string(p_users, ',') || ']' ELSE '' END
    || coalesce(',"role":' || to_json(p_role)::text, '')
    || coalesce(',"name":' || to_json(p_name)::text, '')
    || coalesce(',"topic":' || to_json(p_topic)::text, '')
    || coalesce(',"avatar":' || to_json(p_avatar)::text, '') || '}'
$$;

DROP FUNCTION rc_change_group(text, bigint, bigint, bigint, text, text, text, bigint);
-- p_op: 'role' (p_user becomes p_role), 'transfer' (p_user becomes the owner), 'settings'
-- (p_name, p_topic and/or p_avatar, NULL: unchanged; topic or avatar '' clears it).
CREATE FUNCTION rc_change_group(p_op text, p_conv bigint, p_caller bigint, p_user bigint,
                                p_role text, p_name text, p_topic text, p_avatar text,
                                p_now bigint, OUT denial int, OUT changed boolean,
                                OUT sys_id bigint, OUT sys_seq bigint, OUT sys_body text)
LANGUAGE plpgsql AS $$
DECLARE
  caller_role text;
  target_role text;
  old_name text;
  old_topic text;
  old_avatar text;
  new_name text;
  new_topic text;
  new_avatar text;
BEGIN
  changed := false;
  SELECT l.denial, l.role INTO denial, caller_role FROM rc_lock_group_role(p_conv, p_caller) l;
  IF denial <> 0 THEN RETURN; END IF;
  IF p_op = 'settings' THEN
    IF caller_role NOT IN ('owner', 'admin') THEN denial := 12; RETURN; END IF;
    SELECT c.name, coalesce(c.topic, ''), coalesce(c.avatar_upload, '')
    INTO old_name, old_topic, old_avatar FROM conversations c WHERE c.id = p_conv;
    new_name := CASE WHEN p_name IS DISTINCT FROM old_name THEN p_name END;
    new_topic := CASE WHEN p_topic <> old_topic THEN p_topic END;
    new_avatar := CASE WHEN p_avatar <> old_avatar THEN p_avatar END;
    IF new_name IS NULL AND new_topic IS NULL AND new_avatar IS NULL THEN RETURN; END IF;
    IF new_avatar <> '' AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.id = new_avatar
        AND u.owner_id = p_caller AND u.type LIKE 'image/%' AND u.thumb_sha256 <> '') THEN
      denial := 15;
      RETURN;
    END IF;
    UPDATE conversations c SET name = coalesce(new_name, c.name),
      topic = CASE WHEN new_topic IS NULL THEN c.topic ELSE nullif(new_topic, '') END,
      avatar_upload = CASE WHEN new_avatar IS NULL THEN c.avatar_upload
                           ELSE nullif(new_avatar, '') END
    WHERE c.id = p_conv;
    sys_body := rc_system_body('updated', p_caller, '{}', NULL, new_name, new_topic, new_avatar);
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
  IF new_avatar <> '' THEN
    INSERT INTO message_attachments (message_id, position, upload_id, conversation_id)
    VALUES (sys_id, 0, new_avatar, p_conv);
  END IF;
  changed := true;
END $$;
