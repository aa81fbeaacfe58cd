-- search: the index moves to search.db
--
-- Version 16 (issue 25, the cost of indexing): the search index leaves chat.db for a file of its
-- own, search.db, kept by a thread of its own that reads new messages, edits and deletions from
-- chat.db (storage/sqlite_search_index.h): tokenizing and merging index segments on the chat
-- writer delayed acks and cost a quarter of chat-1k's msgs/s. search.db is built again from the
-- messages the first time the server starts on this version.
DROP TRIGGER messages_fts_update;
DROP TRIGGER messages_fts_delete;
DROP TABLE messages_fts;
DROP TABLE search_progress;

INSERT INTO meta(key, value)
VALUES ('schema_v16_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
