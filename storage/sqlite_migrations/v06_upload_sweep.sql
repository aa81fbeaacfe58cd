-- indexes for the sweep of orphan uploads
--
-- Version 6: what the sweep of orphan uploads looks up (storage/SCHEMA.md, "Orphan uploads"):
-- uploads by age, and whether any upload still names a file (as its bytes or its thumbnail).
CREATE INDEX uploads_created ON uploads(created_at);
CREATE INDEX uploads_sha256 ON uploads(sha256);
CREATE INDEX uploads_thumb_sha256 ON uploads(thumb_sha256);

INSERT INTO meta(key, value)
VALUES ('schema_v6_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
