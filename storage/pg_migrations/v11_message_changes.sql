-- changes to messages: edits, deletions, reactions and pins
--
-- Version 11 (issue 25; SQLite's version 11, storage/SCHEMA.md "Changes to messages"): a change
-- is a row of its own naming its target by seq; the target keeps its current state. The
-- change's whole write is one function (rc_change_message: the checks need the target's row
-- before anything is written); rc_may_delete is the rule of message_changes.h's MayDelete.
ALTER TABLE messages ADD COLUMN target bigint;
ALTER TABLE messages ADD COLUMN edited_at bigint;
ALTER TABLE messages ADD COLUMN deleted_at bigint;
ALTER TABLE messages ADD COLUMN deleted_by bigint;
CREATE INDEX messages_by_target ON messages (conversation_id, target) WHERE target IS NOT NULL;
CREATE INDEX messages_server_kinds ON messages (conversation_id, seq)
WHERE kind IN ('edit','delete','reaction','pin','unpin','system');
CREATE TABLE released_files (sha256 text PRIMARY KEY);
ALTER TABLE messages ADD COLUMN reaction_on boolean;
ALTER TABLE messages ADD COLUMN pinned_at bigint;
ALTER TABLE messages ADD COLUMN pinned_by bigint;
CREATE INDEX messages_pinned ON messages (conversation_id, pinned_at) WHERE pinned_at IS NOT NULL;
CREATE TABLE reactions (
  conversation_id bigint NOT NULL,
  seq             bigint NOT NULL,
  emoji           text NOT NULL COLLATE "C",
  user_id         bigint NOT NULL,
  created_at      bigint NOT NULL,
  PRIMARY KEY (conversation_id, seq, emoji, user_id)
);

CREATE FUNCTION rc_may_delete(p_conv bigint, p_author bigint, p_actor bigint) RETURNS boolean
LANGUAGE sql STABLE AS 'SELECT p_author = p_actor';

-- outcome: 'i' stored, 'd' stored before (a resend of the cid: the original's row), 'f' not a
-- member, 'n' no such message, 'g' deleted, 'a' not the caller's to change, 'w' past the window,
-- 'r' a reaction past p_max_reactions distinct emoji on the message, 'p' a pin past p_max_pins
-- pinned messages in the conversation.
-- For an edit, p_ids and p_names (lowercased) are the new body's mentions, resolved here as an
-- append resolves them; `mentioned` lists the members the edit mentions for the first time.
CREATE FUNCTION rc_change_message(p_conv bigint, p_sender bigint, p_cid text, p_kind text,
  p_body text, p_ts bigint, p_target bigint, p_window_ms bigint, p_ids bigint[], p_names text[],
  p_on boolean, p_max_reactions bigint, p_max_pins bigint)
RETURNS TABLE (outcome text, id bigint, seq bigint, kind text, body text, sent_at bigint,
  mentioned bigint[])
LANGUAGE plpgsql AS $$
DECLARE
  old messages%ROWTYPE;
  t messages%ROWTYPE;
  next_seq bigint;
  new_id bigint;
  before_ids bigint[];
BEGIN
  SELECT * INTO old FROM messages m WHERE m.sender_id = p_sender AND m.client_msg_id = p_cid;
  IF FOUND THEN
    RETURN QUERY SELECT 'd'::text, old.id, old.seq, old.kind, old.body, old.sent_at,
      ARRAY(SELECT mt.user_id FROM mentions mt WHERE mt.message_id = old.id ORDER BY 1);
    RETURN;
  END IF;
  PERFORM 1 FROM conversations c WHERE c.id = p_conv FOR UPDATE;
  IF NOT EXISTS (SELECT 1 FROM users_conversations uc
                 WHERE uc.conversation_id = p_conv AND uc.user_id = p_sender) THEN
    RETURN QUERY SELECT 'f'::text, 0::bigint, 0::bigint, ''::text, ''::text, 0::bigint,
      '{}'::bigint[];
    RETURN;
  END IF;
  SELECT * INTO t FROM messages m
  WHERE m.conversation_id = p_conv AND m.seq = p_target AND m.target IS NULL;
  outcome := CASE
    WHEN NOT FOUND THEN 'n'
    WHEN t.deleted_at IS NOT NULL THEN 'g'
    WHEN p_kind = 'edit' AND t.sender_id <> p_sender THEN 'a'
    WHEN p_kind = 'delete' AND NOT rc_may_delete(p_conv, t.sender_id, p_sender) THEN 'a'
    WHEN p_kind = 'edit' AND p_window_ms > 0 AND p_ts - t.sent_at > p_window_ms THEN 'w'
    WHEN p_kind = 'reaction' AND p_on AND NOT EXISTS (SELECT 1 FROM reactions r
        WHERE r.conversation_id = p_conv AND r.seq = p_target AND r.emoji = p_body)
      AND (SELECT count(DISTINCT r.emoji) FROM reactions r
           WHERE r.conversation_id = p_conv AND r.seq = p_target) >= p_max_reactions THEN 'r'
    WHEN p_kind = 'pin' AND t.pinned_at IS NULL AND (SELECT count(*) FROM messages pm
        WHERE pm.conversation_id = p_conv AND pm.pinned_at IS NOT NULL) >= p_max_pins THEN 'p'
    ELSE 'i' END;
  IF outcome <> 'i' THEN
    RETURN QUERY SELECT outcome, 0::bigint, 0::bigint, ''::text, ''::text, 0::bigint,
      '{}'::bigint[];
    RETURN;
  END IF;
  UPDATE conversations c SET last_seq = c.last_seq + 1 WHERE c.id = p_conv
  RETURNING c.last_seq INTO next_seq;
  INSERT INTO messages (conversation_id, seq, sender_id, kind, body, sent_at, client_msg_id,
    attachments, target, reaction_on)
  VALUES (p_conv, next_seq, p_sender, p_kind, p_body, p_ts, p_cid, '', p_target,
    CASE WHEN p_kind = 'reaction' THEN p_on END)
  RETURNING messages.id INTO new_id;
  UPDATE users_conversations uc SET read_seq = greatest(uc.read_seq, next_seq),
    delivered_seq = greatest(uc.delivered_seq, next_seq)
  WHERE uc.conversation_id = p_conv AND uc.user_id = p_sender;
  IF p_kind = 'edit' THEN
    before_ids := ARRAY(SELECT mt.user_id FROM mentions mt WHERE mt.message_id = t.id);
    UPDATE messages m SET body = p_body, edited_at = p_ts WHERE m.id = t.id;
    DELETE FROM mentions mt WHERE mt.message_id = t.id;
    INSERT INTO mentions (user_id, message_id, conversation_id, seq)
    SELECT uc.user_id, t.id, p_conv, t.seq FROM users_conversations uc
    WHERE uc.conversation_id = p_conv AND uc.user_id <> p_sender
      AND (uc.user_id = ANY (p_ids) OR (t.kind = 'text' AND uc.user_id IN
        (SELECT u.id FROM users u WHERE lower(u.username) = ANY (p_names))));
    -- The members named for the first time who have read past the target: the edit's own row
    -- makes the mention unread for them once (sqlite_message_changes.cc says why).
    INSERT INTO mentions (user_id, message_id, conversation_id, seq)
    SELECT mt.user_id, new_id, p_conv, next_seq FROM mentions mt
    JOIN users_conversations uc ON uc.conversation_id = p_conv AND uc.user_id = mt.user_id
      AND uc.read_seq >= t.seq
    WHERE mt.message_id = t.id AND mt.user_id <> ALL (before_ids);
    RETURN QUERY SELECT 'i'::text, new_id, next_seq, p_kind, p_body, p_ts,
      ARRAY(SELECT mt.user_id FROM mentions mt WHERE mt.message_id = t.id
            AND mt.user_id <> ALL (before_ids) ORDER BY 1);
    RETURN;
  ELSIF p_kind = 'pin' THEN
    UPDATE messages m SET pinned_at = p_ts, pinned_by = p_sender
    WHERE m.id = t.id AND m.pinned_at IS NULL;
  ELSIF p_kind = 'unpin' THEN
    UPDATE messages m SET pinned_at = NULL, pinned_by = NULL WHERE m.id = t.id;
  ELSIF p_kind = 'reaction' AND p_on THEN
    INSERT INTO reactions (conversation_id, seq, emoji, user_id, created_at)
    VALUES (p_conv, p_target, p_body, p_sender, p_ts) ON CONFLICT DO NOTHING;
  ELSIF p_kind = 'reaction' THEN
    DELETE FROM reactions r WHERE r.conversation_id = p_conv AND r.seq = p_target
      AND r.emoji = p_body AND r.user_id = p_sender;
  ELSE
    DELETE FROM reactions r WHERE r.conversation_id = p_conv AND r.seq = p_target;
    UPDATE messages m SET body = '', attachments = '', deleted_at = p_ts, deleted_by = p_sender,
      pinned_at = NULL, pinned_by = NULL
    WHERE m.id = t.id;
    UPDATE messages m SET body = '' WHERE m.conversation_id = p_conv AND m.target = p_target
      AND m.kind = 'edit';
    DELETE FROM mentions mt WHERE mt.message_id = t.id OR mt.message_id IN
      (SELECT e.id FROM messages e WHERE e.conversation_id = p_conv AND e.target = p_target);
    WITH gone AS (DELETE FROM message_attachments a WHERE a.message_id = t.id
                  RETURNING a.upload_id),
    freed AS (DELETE FROM uploads u USING gone WHERE u.id = gone.upload_id
      AND NOT EXISTS (SELECT 1 FROM message_attachments a WHERE a.upload_id = u.id
                      AND a.message_id <> t.id)
      AND NOT EXISTS (SELECT 1 FROM users p WHERE p.avatar_upload = u.id)
      RETURNING u.sha256, u.thumb_sha256)
    INSERT INTO released_files (sha256)
    SELECT DISTINCT h FROM freed CROSS JOIN LATERAL (VALUES (freed.sha256), (freed.thumb_sha256)) v(h)
    WHERE coalesce(h, '') <> '' ON CONFLICT DO NOTHING;
  END IF;
  RETURN QUERY SELECT 'i'::text, new_id, next_seq, p_kind, p_body, p_ts,
    ARRAY(SELECT mt.user_id FROM mentions mt WHERE mt.message_id = new_id ORDER BY 1);
END $$;
