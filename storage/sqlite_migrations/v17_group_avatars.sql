-- group avatars
--
-- Version 17 (issue 25, group avatars; storage/SCHEMA.md "Groups"): a group's avatar, an image
-- upload. The `updated` system entry that sets it carries the upload as its attachment, which is
-- what lets the members read the file and keeps the sweeper and message deletions off it: an old
-- avatar stays readable in the history that showed it, as any attachment does.
ALTER TABLE conversations ADD COLUMN avatar_upload TEXT REFERENCES uploads(id) ON DELETE SET NULL;

INSERT INTO meta(key, value)
VALUES ('schema_v17_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
