-- a sender has read its own messages
--
-- Version 2: a sender has read its own messages (issue #8). Sending moves the sender's read
-- (and delivered) watermark to the new message, inside the INSERT statement itself (a trigger
-- runs in its statement, so the append stays one atomic statement), and the watermarks of
-- existing databases are brought up to each member's newest own message. Reading on from
-- someone else's messages is implied too: replying means the conversation was seen.
CREATE TRIGGER messages_sender_has_read AFTER INSERT ON messages
BEGIN
  UPDATE users_conversations
  SET read_seq = max(read_seq, NEW.seq), delivered_seq = max(delivered_seq, NEW.seq)
  WHERE conversation_id = NEW.conversation_id AND user_id = NEW.sender_id AND read_seq < NEW.seq;
END;

UPDATE users_conversations AS uc
SET read_seq = max(uc.read_seq, own.newest), delivered_seq = max(uc.delivered_seq, own.newest)
FROM (SELECT conversation_id, sender_id, max(seq) AS newest FROM messages
      GROUP BY conversation_id, sender_id) AS own
WHERE uc.conversation_id = own.conversation_id AND uc.user_id = own.sender_id
  AND uc.read_seq < own.newest;

INSERT INTO meta(key, value)
VALUES ('schema_v2_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
