-- indexes for the sweep of orphan uploads
--
-- Version 7: what the sweep of orphan uploads looks up (storage/SCHEMA.md, "Orphan uploads").
CREATE INDEX uploads_created ON uploads (created_at);
CREATE INDEX uploads_sha256 ON uploads (sha256);
CREATE INDEX uploads_thumb_sha256 ON uploads (thumb_sha256);
