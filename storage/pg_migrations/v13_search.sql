-- search: a full-text index of message bodies
--
-- Version 13 (issue 25, search; SQLite's version 13, storage/SCHEMA.md "Search"): a GIN index
-- over the words of the bodies of ordinary messages (storage/message_kinds.h) that are not
-- deleted. An expression index, not a stored tsvector column: the text is not kept twice, and an
-- edit or a deletion reindexes the row as any update does. 'simple' lowercases and splits without
-- stemming or stop words, as SQLite's unicode61 does; pg_search_store.cc's statement repeats the
-- expression and the predicate exactly, or the planner cannot use the index.
CREATE INDEX messages_search ON messages USING gin (to_tsvector('simple'::regconfig, body))
WHERE kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND deleted_at IS NULL;
