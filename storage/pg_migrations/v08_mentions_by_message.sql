-- mentions by message
--
-- Version 8: a message's mentions, read with the message (SQLite's version 7).
CREATE INDEX mentions_by_message ON mentions (message_id);
