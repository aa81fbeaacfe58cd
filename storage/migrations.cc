#include "storage/migrations.h"

#include <algorithm>
#include <array>
#include <string>

namespace ringcast::storage {
namespace {

// SQL text joined at compile time, for a statement that more than one version runs.
template <size_t... N>
constexpr std::array<char, (N + ...) - sizeof...(N) + 1> Concat(const char (&... parts)[N]) {
  std::array<char, (N + ...) - sizeof...(N) + 1> out{};
  size_t at = 0;
  ((std::copy_n(parts, N - 1, out.begin() + at), at += N - 1), ...);
  return out;
}

// seq is gap-free per conversation: a message must take exactly last_seq + 1, and inserting
// it advances last_seq in the same statement. A NULL comparison (unknown conversation) does not
// fire, so the foreign key reports that case instead. Created with the messages table (version
// 1), and again when a migration rebuilds it (version 8).
constexpr char kMessagesOrderTriggers[] = R"sql(
CREATE TRIGGER messages_seq_gap_free BEFORE INSERT ON messages
WHEN NEW.seq <> (SELECT last_seq + 1 FROM conversations WHERE id = NEW.conversation_id)
BEGIN
  SELECT RAISE(ABORT, 'messages.seq must be conversations.last_seq + 1');
END;

CREATE TRIGGER messages_advance_last_seq AFTER INSERT ON messages
BEGIN
  UPDATE conversations SET last_seq = NEW.seq WHERE id = NEW.conversation_id;
END;

CREATE TRIGGER messages_position_immutable BEFORE UPDATE OF conversation_id, seq ON messages
BEGIN
  SELECT RAISE(ABORT, 'messages.conversation_id and messages.seq never change');
END;
)sql";

// Version 1: the chat service (issue #4). Every table is STRICT so a value of the wrong type is
// an error rather than silently stored; all times are INTEGER milliseconds since the Unix
// epoch (UTC). The reasons behind each column and index are in storage/SCHEMA.md.
constexpr char kSchemaV1Tables[] = R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value ANY NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE users (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  username      TEXT NOT NULL COLLATE NOCASE UNIQUE,
  password_hash TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  last_online   INTEGER
) STRICT;

CREATE TABLE conversations (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  name       TEXT,
  is_group   INTEGER NOT NULL CHECK (is_group IN (0, 1)),
  created_at INTEGER NOT NULL,
  last_seq   INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
  direct_key TEXT UNIQUE,
  CHECK ((is_group = 0) = (direct_key IS NOT NULL))
) STRICT;

CREATE TABLE users_conversations (
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  joined_at       INTEGER NOT NULL,
  delivered_seq   INTEGER NOT NULL DEFAULT 0 CHECK (delivered_seq >= 0),
  read_seq        INTEGER NOT NULL DEFAULT 0 CHECK (read_seq >= 0),
  PRIMARY KEY (conversation_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX users_conversations_by_user ON users_conversations(user_id);

CREATE TABLE messages (
  id              INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  seq             INTEGER NOT NULL CHECK (seq > 0),
  sender_id       INTEGER NOT NULL REFERENCES users(id),
  kind            TEXT NOT NULL DEFAULT 'text',
  body            TEXT NOT NULL,
  sent_at         INTEGER NOT NULL,
  delivered_at    INTEGER,
  seen_at         INTEGER,
  client_msg_id   TEXT,
  UNIQUE (conversation_id, seq),
  UNIQUE (sender_id, client_msg_id)
) STRICT;

)sql";
constexpr char kSchemaV1Rest[] = R"sql(

CREATE TABLE revoked_tokens (
  jti        TEXT PRIMARY KEY NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens(expires_at);

INSERT INTO meta(key, value)
VALUES ('schema_v1_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql";
constexpr auto kSchemaV1 = Concat(kSchemaV1Tables, kMessagesOrderTriggers, kSchemaV1Rest);

// Version 2: a sender has read its own messages (issue #8). Sending moves the sender's read
// (and delivered) watermark to the new message, inside the INSERT statement itself (a trigger
// runs in its statement, so the append stays one atomic statement), and the watermarks of
// existing databases are brought up to each member's newest own message. Reading on from
// someone else's messages is implied too: replying means the conversation was seen.
constexpr const char* kSchemaV2 = R"sql(
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
)sql";

// Version 3: mentions, mute and notifications (issue 14; notify/README.md). notified_seq is
// the Notifier's watermark (a notification covering up to it was delivered, or was not due),
// muted_until the member's mute (NULL: not muted); existing memberships start notified up to
// now, so that an upgrade does not notify the whole history. mentions holds one row per
// mentioned member of a message, found by user for GET /api/mentions (newest message id first)
// and by conversation for the unread counts.
constexpr const char* kSchemaV3 = R"sql(
ALTER TABLE users_conversations ADD COLUMN notified_seq INTEGER NOT NULL DEFAULT 0
  CHECK (notified_seq >= 0);
ALTER TABLE users_conversations ADD COLUMN muted_until INTEGER;
UPDATE users_conversations
SET notified_seq = (SELECT last_seq FROM conversations WHERE id = conversation_id);

CREATE TABLE mentions (
  user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  message_id      INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  seq             INTEGER NOT NULL,
  PRIMARY KEY (user_id, message_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX mentions_by_conversation ON mentions(conversation_id, user_id, seq);

INSERT INTO meta(key, value)
VALUES ('schema_v3_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql";

// Version 4: Web Push subscriptions, an optional email per account, and the unread digest's
// watermark per member (notify/push, notify/email; storage/SCHEMA.md). Subscription keys are
// kept as the browser wrote them (base64url text).
constexpr const char* kSchemaV4 = R"sql(
CREATE TABLE push_subscriptions (
  endpoint   TEXT PRIMARY KEY NOT NULL,
  user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  p256dh     TEXT NOT NULL,
  auth       TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX push_subscriptions_by_user ON push_subscriptions(user_id, created_at);

ALTER TABLE users ADD COLUMN email TEXT;
CREATE INDEX users_with_email ON users(id) WHERE email IS NOT NULL;

CREATE TABLE email_digests (
  conversation_id INTEGER NOT NULL,
  user_id         INTEGER NOT NULL,
  emailed_seq     INTEGER NOT NULL CHECK (emailed_seq >= 0),
  PRIMARY KEY (conversation_id, user_id),
  FOREIGN KEY (conversation_id, user_id)
    REFERENCES users_conversations(conversation_id, user_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

INSERT INTO meta(key, value)
VALUES ('schema_v4_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql";

// Version 5 (issue 15): uploaded files and the messages that carry them (storage/SCHEMA.md).
constexpr const char* kSchemaV5 = R"sql(
CREATE TABLE uploads (
  id           TEXT PRIMARY KEY NOT NULL,
  owner_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  size         INTEGER NOT NULL CHECK (size >= 0),
  type         TEXT NOT NULL,
  sha256       TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  width        INTEGER NOT NULL DEFAULT 0,
  height       INTEGER NOT NULL DEFAULT 0,
  thumb_sha256 TEXT NOT NULL DEFAULT '',
  thumb_size   INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
CREATE INDEX uploads_owner ON uploads(owner_id);

CREATE TABLE message_attachments (
  message_id      INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  position        INTEGER NOT NULL,
  upload_id       TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
  conversation_id INTEGER NOT NULL,
  PRIMARY KEY (message_id, position)
) STRICT, WITHOUT ROWID;
CREATE INDEX message_attachments_upload ON message_attachments(upload_id, conversation_id);

ALTER TABLE messages ADD COLUMN attachments TEXT NOT NULL DEFAULT '';

INSERT INTO meta(key, value)
VALUES ('schema_v5_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql";

// Version 6: what the sweep of orphan uploads looks up (storage/SCHEMA.md, "Orphan uploads"):
// uploads by age, and whether any upload still names a file (as its bytes or its thumbnail).
constexpr const char* kSchemaV6 = R"sql(
CREATE INDEX uploads_created ON uploads(created_at);
CREATE INDEX uploads_sha256 ON uploads(sha256);
CREATE INDEX uploads_thumb_sha256 ON uploads(thumb_sha256);

INSERT INTO meta(key, value)
VALUES ('schema_v6_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql";

// Version 7: a message's mentions, read with the message (history, sync, the conversation list,
// the mentions list): the mentions table by message.
constexpr const char* kSchemaV7 = R"sql(
CREATE INDEX mentions_by_message ON mentions(message_id);

INSERT INTO meta(key, value)
VALUES ('schema_v7_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql";

// Version 8 (issue 32): the cid de-duplication index leaves `messages`. Kept there, every append
// wrote a leaf of its own (entries are clustered by sender, so each active sender has a hot
// leaf) and that index alone was half of the WAL written per message. message_cids holds the
// same (sender, cid) → message pairs, but SqliteChatStore adds them in bulk, sorted, from the
// newest messages it keeps in memory (RecentCids, storage/README.md "WAL bytes per message");
// every message below meta 'cids_merged_below' is in it. SQLite cannot drop a UNIQUE constraint,
// so the table is rebuilt (the procedure of SQLite's "ALTER TABLE" page: Migrate runs with
// foreign keys off and checks them before it commits), and its triggers come back with it.
constexpr char kSchemaV8Rebuild[] = R"sql(
CREATE TABLE messages_v8 (
  id              INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  seq             INTEGER NOT NULL CHECK (seq > 0),
  sender_id       INTEGER NOT NULL REFERENCES users(id),
  kind            TEXT NOT NULL DEFAULT 'text',
  body            TEXT NOT NULL,
  sent_at         INTEGER NOT NULL,
  delivered_at    INTEGER,
  seen_at         INTEGER,
  client_msg_id   TEXT,
  attachments     TEXT NOT NULL DEFAULT '',
  UNIQUE (conversation_id, seq)
) STRICT;
INSERT INTO messages_v8(id, conversation_id, seq, sender_id, kind, body, sent_at, delivered_at,
                        seen_at, client_msg_id, attachments)
SELECT id, conversation_id, seq, sender_id, kind, body, sent_at, delivered_at, seen_at,
       client_msg_id, attachments FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v8 RENAME TO messages;
)sql";
constexpr char kSchemaV8Rest[] = R"sql(
CREATE TRIGGER messages_sender_has_read AFTER INSERT ON messages
BEGIN
  UPDATE users_conversations
  SET read_seq = max(read_seq, NEW.seq), delivered_seq = max(delivered_seq, NEW.seq)
  WHERE conversation_id = NEW.conversation_id AND user_id = NEW.sender_id AND read_seq < NEW.seq;
END;

CREATE TABLE message_cids (
  sender_id     INTEGER NOT NULL,
  client_msg_id TEXT NOT NULL,
  message_id    INTEGER NOT NULL,
  PRIMARY KEY (sender_id, client_msg_id)
) STRICT, WITHOUT ROWID;
INSERT INTO message_cids(sender_id, client_msg_id, message_id)
SELECT sender_id, client_msg_id, id FROM messages WHERE client_msg_id IS NOT NULL
ORDER BY sender_id, client_msg_id;

INSERT INTO meta(key, value)
VALUES ('cids_merged_below', (SELECT coalesce(max(id), 0) + 1 FROM messages)),
       ('schema_v8_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql";
constexpr auto kSchemaV8 = Concat(kSchemaV8Rebuild, kMessagesOrderTriggers, kSchemaV8Rest);

// Version 9: refresh tokens (POST /api/token/refresh, storage/SCHEMA.md) and the database's
// instance id, which a client binds what it keeps (its outbox) to: a new database, a new id.
constexpr const char* kSchemaV9 = R"sql(
CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  family     TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens(expires_at);

INSERT INTO meta(key, value) VALUES ('instance_id', lower(hex(randomblob(16))));
INSERT INTO meta(key, value)
VALUES ('schema_v9_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql";

// Version 10 (issue 25, profiles and account control; storage/SCHEMA.md, "Profiles, logins and
// blocks"): a profile per user (display name, avatar upload, status text) and the deletion
// mark; the words of display names for user search; a row per login (a refresh-token family)
// for the sessions list; blocks between users.
constexpr const char* kSchemaV10 = R"sql(
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN avatar_upload TEXT REFERENCES uploads(id) ON DELETE SET NULL;
ALTER TABLE users ADD COLUMN status_text TEXT;
ALTER TABLE users ADD COLUMN deleted_at INTEGER;
CREATE INDEX users_by_avatar ON users(avatar_upload) WHERE avatar_upload IS NOT NULL;

CREATE TABLE user_name_words (
  word    TEXT NOT NULL,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  PRIMARY KEY (word, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX user_name_words_by_user ON user_name_words(user_id);

CREATE TABLE logins (
  family       TEXT PRIMARY KEY NOT NULL,
  user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  user_agent   TEXT NOT NULL,
  address      TEXT NOT NULL
) STRICT;
CREATE INDEX logins_by_user ON logins(user_id);

CREATE TABLE blocks (
  blocker    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  blocked    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (blocker, blocked)
) STRICT, WITHOUT ROWID;
CREATE INDEX blocks_by_blocked ON blocks(blocked, blocker);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens(user_id);

INSERT INTO meta(key, value)
VALUES ('schema_v10_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql";

// Version 11 (issue 25, changes to messages; storage/SCHEMA.md, "Changes to messages"): a change
// (edit, delete, reaction, pin, unpin) is a row of its own in the conversation's stream that
// names the message it changes by seq (`target`); the changed message keeps its current state
// in its own row (`edited_at`; a deletion empties it and leaves `deleted_at`, `deleted_by`).
constexpr const char* kSchemaV11 = R"sql(
ALTER TABLE messages ADD COLUMN target INTEGER;
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
ALTER TABLE messages ADD COLUMN deleted_by INTEGER;
CREATE INDEX messages_by_target ON messages(conversation_id, target) WHERE target IS NOT NULL;
-- The server's rows (storage/message_kinds.h, RINGCAST_SERVER_KIND_SQL): unread counts subtract
-- them from last_seq - read_seq.
CREATE INDEX messages_server_kinds ON messages(conversation_id, seq)
WHERE kind IN ('edit','delete','reaction','pin','unpin','system');
-- A pinned message: when and by whom (pins per conversation, listed newest first).
ALTER TABLE messages ADD COLUMN pinned_at INTEGER;
ALTER TABLE messages ADD COLUMN pinned_by INTEGER;
CREATE INDEX messages_pinned ON messages(conversation_id, pinned_at) WHERE pinned_at IS NOT NULL;
-- A reaction change adds (1) or takes away (0) its emoji; NULL on every other row.
ALTER TABLE messages ADD COLUMN reaction_on INTEGER;
-- Who reacted to which message with what (one extended grapheme cluster, chat/reactions.h).
CREATE TABLE reactions (
  conversation_id INTEGER NOT NULL,
  seq             INTEGER NOT NULL,
  emoji           TEXT NOT NULL,
  user_id         INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (conversation_id, seq, emoji, user_id)
) STRICT, WITHOUT ROWID;
-- The files (hashes) of uploads a deletion released, for the upload sweeper to remove.
CREATE TABLE released_files (sha256 TEXT PRIMARY KEY NOT NULL) STRICT, WITHOUT ROWID;

INSERT INTO meta(key, value)
VALUES ('schema_v11_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql";

// Version 12 (issue 25, groups; storage/SCHEMA.md, "Groups"): each membership has a role
// (storage/group_rules.h) and a group a topic. No creator was stored before, so an existing
// group's owner is its earliest member (the lowest id among those who joined first: the creator
// joined with the first members).
constexpr const char* kSchemaV12 = R"sql(
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
)sql";

// Version 13 (issue 25, search; storage/SCHEMA.md "Search"): an external-content FTS5 table over
// the bodies of ordinary messages that are not deleted (the text stays in `messages` alone).
// New messages are not indexed by a trigger: FTS5 writes a segment per transaction, and one per
// batch of appends cost 40% of the writes' throughput. The store adds them in bulk
// (a job on the writer until version 16), every --search-index-interval-ms, up to the id it records
// in search_progress. Changes to rows already indexed are kept in the same transaction by the
// triggers: an edit takes out the old body and puts in the new, a deletion (body emptied,
// deleted_at set) takes it out. FTS5's 'delete' must name the exact text that was indexed, which
// is why each trigger tests the same predicate as the one that indexed the row, and the row
// being at or below indexed_upto; an update's two steps are one trigger, in that order (SQLite
// does not promise an order between triggers, and the 'delete' after the insert of the same
// rowid would take the new row's sizes with it). unicode61 with diacritics removed: "café" finds
// "cafe". The predicate, written out in each trigger, is storage/message_kinds.h's ordinary kinds.
constexpr const char* kSchemaV13 = R"sql(
CREATE VIRTUAL TABLE messages_fts USING fts5(
  body, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
CREATE TABLE search_progress (indexed_upto INTEGER NOT NULL);
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body, deleted_at ON messages
WHEN OLD.id <= (SELECT indexed_upto FROM search_progress)
BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, body) SELECT 'delete', OLD.id, OLD.body
  WHERE OLD.kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND OLD.deleted_at IS NULL;
  INSERT INTO messages_fts(rowid, body) SELECT NEW.id, NEW.body
  WHERE NEW.kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND NEW.deleted_at IS NULL;
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN OLD.kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND OLD.deleted_at IS NULL
  AND OLD.id <= (SELECT indexed_upto FROM search_progress)
BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', OLD.id, OLD.body);
END;
INSERT INTO messages_fts(rowid, body)
SELECT id, body FROM messages
WHERE kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND deleted_at IS NULL;
INSERT INTO search_progress(indexed_upto) SELECT coalesce(max(id), 0) FROM messages;

INSERT INTO meta(key, value)
VALUES ('schema_v13_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql";

// Version 14 (issue 25, replies and threads; storage/SCHEMA.md, "Replies and threads"): a reply
// names its parent by seq, a thread reply its thread's root; a root keeps its thread's count
// and newest reply, updated by the append that stores the reply.
constexpr const char* kSchemaV14 = R"sql(
ALTER TABLE messages ADD COLUMN reply_to INTEGER;
ALTER TABLE messages ADD COLUMN thread_root INTEGER;
ALTER TABLE messages ADD COLUMN reply_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN last_reply_seq INTEGER;
ALTER TABLE messages ADD COLUMN last_reply_at INTEGER;
CREATE INDEX messages_by_thread ON messages(conversation_id, thread_root, seq)
WHERE thread_root IS NOT NULL;
-- Each member's read watermark per thread: the replies by others above it are unread.
CREATE TABLE thread_reads (
  conversation_id INTEGER NOT NULL,
  root_seq        INTEGER NOT NULL,
  user_id         INTEGER NOT NULL,
  read_seq        INTEGER NOT NULL,
  PRIMARY KEY (conversation_id, root_seq, user_id)
) STRICT, WITHOUT ROWID;

INSERT INTO meta(key, value)
VALUES ('schema_v14_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql";

// Version 15 (issue 25, search latency; storage/SCHEMA.md "Search"): the index is keyed by
// conversation, so a search reads only the caller's conversations. The FTS5 rowid is
// (conversation_id << 32) | seq: every conversation's messages are one range of it, which FTS5
// seeks to in each word's doclist (sqlite_search_store.cc). Version 13's rowid, the message id,
// spread a conversation over the whole index, and a common word's search walked every message
// in the database that held it before it could test membership. Contentless (`content=''`):
// rowid no longer names a `messages` row, so FTS5 cannot read the text back, and snippets are
// made from the bodies (Highlight, search_store.h), as on PostgreSQL. The triggers and the bulk
// add are version 13's with the new key; FTS5's 'delete' works on contentless tables as on
// external-content ones, given the text that was indexed.
constexpr const char* kSchemaV15 = R"sql(
DROP TRIGGER messages_fts_update;
DROP TRIGGER messages_fts_delete;
DROP TABLE messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5(
  body, content='', tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body, deleted_at ON messages
WHEN OLD.id <= (SELECT indexed_upto FROM search_progress)
BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, body)
  SELECT 'delete', (OLD.conversation_id << 32) | OLD.seq, OLD.body
  WHERE OLD.kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND OLD.deleted_at IS NULL;
  INSERT INTO messages_fts(rowid, body) SELECT (NEW.conversation_id << 32) | NEW.seq, NEW.body
  WHERE NEW.kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND NEW.deleted_at IS NULL;
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN OLD.kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND OLD.deleted_at IS NULL
  AND OLD.id <= (SELECT indexed_upto FROM search_progress)
BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, body)
  VALUES ('delete', (OLD.conversation_id << 32) | OLD.seq, OLD.body);
END;
INSERT INTO messages_fts(rowid, body)
SELECT (conversation_id << 32) | seq, body FROM messages
WHERE kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND deleted_at IS NULL;
UPDATE search_progress SET indexed_upto = (SELECT coalesce(max(id), 0) FROM messages);

INSERT INTO meta(key, value)
VALUES ('schema_v15_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql";

// Version 16 (issue 25, the cost of indexing): the search index leaves chat.db for a file of its
// own, search.db, kept by a thread of its own that reads new messages, edits and deletions from
// chat.db (storage/sqlite_search_index.h): tokenizing and merging index segments on the chat
// writer delayed acks and cost a quarter of chat-1k's msgs/s. search.db is built again from the
// messages the first time the server starts on this version.
constexpr const char* kSchemaV16 = R"sql(
DROP TRIGGER messages_fts_update;
DROP TRIGGER messages_fts_delete;
DROP TABLE messages_fts;
DROP TABLE search_progress;

INSERT INTO meta(key, value)
VALUES ('schema_v16_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql";

// Version 17 (issue 25, group avatars; storage/SCHEMA.md "Groups"): a group's avatar, an image
// upload. The `updated` system entry that sets it carries the upload as its attachment, which is
// what lets the members read the file and keeps the sweeper and message deletions off it: an old
// avatar stays readable in the history that showed it, as any attachment does.
constexpr const char* kSchemaV17 = R"sql(
ALTER TABLE conversations ADD COLUMN avatar_upload TEXT REFERENCES uploads(id) ON DELETE SET NULL;

INSERT INTO meta(key, value)
VALUES ('schema_v17_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql";

constexpr Migration kMigrations[] = {
    {1, "chat service: users, conversations, members, messages, revoked tokens", kSchemaV1.data()},
    {2, "a sender has read its own messages", kSchemaV2},
    {3, "mentions, mute and notified watermarks", kSchemaV3},
    {4, "web push subscriptions, account email, email digests", kSchemaV4},
    {5, "uploads and message attachments", kSchemaV5},
    {6, "indexes for the sweep of orphan uploads", kSchemaV6},
    {7, "mentions by message", kSchemaV7},
    {8, "the cid index leaves messages for message_cids, filled in bulk", kSchemaV8.data()},
    {9, "refresh tokens and the instance id", kSchemaV9},
    {10, "profiles, logins (sessions) and blocks", kSchemaV10},
    {11, "changes to messages: edits, deletions, reactions and pins", kSchemaV11},
    {12, "group roles and topics", kSchemaV12},
    {13, "search: an FTS5 index of message bodies", kSchemaV13},
    {14, "replies and threads", kSchemaV14},
    {15, "search: the index keyed by conversation", kSchemaV15},
    {16, "search: the index moves to search.db", kSchemaV16},
    {17, "group avatars", kSchemaV17},
};

Status Fail(SqliteDb& db, Status status) {
  if (db.InTransaction()) (void)db.Rollback();  // The original error is the one to report.
  return status;
}

}  // namespace

std::span<const Migration> SchemaMigrations() { return kMigrations; }

int64_t LatestSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

Status Migrate(SqliteDb& db) { return Migrate(db, SchemaMigrations()); }

namespace {

Status MigrateInTransaction(SqliteDb& db, std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int64_t>(i) + 1) {
      return Status(Errc::kMisuse, "migration list out of order at index " + std::to_string(i));
    }
  }
  const int64_t latest = migrations.empty() ? 0 : migrations.back().version;
  const std::string& path = db.options().path;

  // Read the version under the write lock, so nobody migrates between our check and our DDL.
  if (Status s = db.BeginImmediate(); !s.ok()) return s;
  Result<int64_t> app_id = db.QueryInt64("PRAGMA application_id");
  if (!app_id.ok()) return Fail(db, app_id.status());
  Result<int64_t> version = db.QueryInt64("PRAGMA user_version");
  if (!version.ok()) return Fail(db, version.status());

  if (*version > latest) {
    return Fail(db, Status(Errc::kSchemaTooNew,
                           "database " + path + " has schema version " + std::to_string(*version) +
                               " but this ringcast knows only up to " + std::to_string(latest) +
                               "; it was written by a newer ringcast: run that version, or point "
                               "--data-dir elsewhere"));
  }
  const bool foreign_id = *app_id != 0 && *app_id != kApplicationId;
  if (foreign_id || (*version > 0 && *app_id != kApplicationId)) {
    return Fail(db, Status(Errc::kSchemaForeign,
                           "database " + path + " does not belong to ringcast (application_id " +
                               std::to_string(*app_id) + ", user_version " +
                               std::to_string(*version) + ")"));
  }
  if (*version == 0) {
    Result<int64_t> tables =
        db.QueryInt64("SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'");
    if (!tables.ok()) return Fail(db, tables.status());
    if (*tables > 0) {
      return Fail(db, Status(Errc::kSchemaForeign,
                             "database " + path + " already holds " + std::to_string(*tables) +
                                 " tables or indexes but no ringcast schema version; refusing to "
                                 "migrate a file that is not ours"));
    }
  }

  for (const Migration& migration : migrations) {
    if (migration.version <= *version) continue;
    if (Status s = db.Exec(migration.sql); !s.ok()) {
      return Fail(db, Status(s.errc(), s.backend_code(),
                             "migration to schema version " + std::to_string(migration.version) +
                                 " (" + migration.description + ") failed: " + s.message()));
    }
  }
  if (latest > *version) {
    // PRAGMAs take no parameters; both values are integers we produced.
    if (Status s = db.Exec("PRAGMA user_version = " + std::to_string(latest)); !s.ok()) {
      return Fail(db, s);
    }
    if (Status s = db.Exec("PRAGMA application_id = " + std::to_string(kApplicationId)); !s.ok()) {
      return Fail(db, s);
    }
  }
  Result<int64_t> broken_keys = db.QueryInt64("SELECT count(*) FROM pragma_foreign_key_check");
  if (!broken_keys.ok()) return Fail(db, broken_keys.status());
  if (*broken_keys > 0) {
    return Fail(db, Status(Errc::kConstraint, "migration left " + std::to_string(*broken_keys) +
                                                  " rows whose foreign key names no row"));
  }
  if (Status s = db.Commit(); !s.ok()) return Fail(db, s);
  return Status();
}

}  // namespace

Status Migrate(SqliteDb& db, std::span<const Migration> migrations) {
  // A migration may rebuild a table (version 8): with foreign keys on, dropping the old table
  // would delete its children. SQLite ignores this pragma inside a transaction, so it is set
  // around ours; MigrateInTransaction checks every key before it commits.
  if (Status s = db.Exec("PRAGMA foreign_keys = OFF"); !s.ok()) return s;
  Status migrated = MigrateInTransaction(db, migrations);
  Status restored = db.Exec("PRAGMA foreign_keys = ON");
  return migrated.ok() ? restored : migrated;
}

}  // namespace ringcast::storage
