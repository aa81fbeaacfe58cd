-- group roles and topics
--
-- Version 12 (issue 25, groups; storage/SCHEMA.md, "Groups"): each membership has a role
-- (storage/group_rules.h) and a group a topic. No creator was stored before, so an existing
-- group's owner is its earliest member (the lowest id among those who joined first: the creator
-- joined with the first members).
ALTER TABLE users_conversations ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
  CHECK (role IN ('owner', 'admin', 'member'));
ALTER TABLE conversations ADD COLUMN topic TEXT;
UPDATE users_conversations AS uc SET role = 'owner'
WHERE uc.user_id = (SELECT f.user_id FROM users_conversations f
                    WHERE f.conversation_id = uc.conversation_id
                    ORDER BY f.joined_at, f.user_id LIMIT 1)
  AND (SELECT c.is_group FROM conversations c WHERE c.id = uc.conversation_id) = 1;

INSERT INTO meta(key, value)
VALUES ('schema_v12_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
