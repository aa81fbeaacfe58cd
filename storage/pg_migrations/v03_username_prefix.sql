-- username prefix search
--
-- Version 3: user search by username prefix (GET /api/users?q=). The unique index on
-- lower(username) is in the database's collation, whose order (en_US and the like: punctuation
-- ignored at first, letters before digits...) a prefix is no range of; in "C" (byte order) the
-- usernames that start with a prefix are one range, scanned in order for ORDER BY … LIMIT.
CREATE INDEX users_username_prefix ON users ((lower(username) COLLATE "C"));
