-- mentions by message
--
-- Version 7: a message's mentions, read with the message (history, sync, the conversation list,
-- the mentions list): the mentions table by message.
CREATE INDEX mentions_by_message ON mentions(message_id);

INSERT INTO meta(key, value)
VALUES ('schema_v7_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
