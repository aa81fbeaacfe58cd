// Every statement the PostgreSQL store prepares (PgPreparedStatements): those of the files that
// keep their own beside their code (pg_history.cc, pg_profile_store.cc, ...; pg_schema.h lists
// them), and here the rest; the schema they run on: pg_migrations/.
#include "storage/pg_schema.h"

#include <iterator>
#include <vector>

#include "storage/message_kinds.h"
#include "storage/pg_store_internal.h"

namespace ringcast::storage {
namespace {

constexpr PgStatement kStatements[] = {
    {"create_user",
     "INSERT INTO users (username, password_hash, created_at) VALUES ($1, $2, $3) "
     "ON CONFLICT (lower(username)) DO NOTHING RETURNING id"},
    {"find_login",
     "SELECT id, password_hash, created_at FROM users WHERE lower(username) = lower($1)"},
    // The bounds come from UsernamePrefixRange (chat_store.h); index users_username_prefix.
    {"search_users",
     "SELECT id, username FROM users WHERE lower(username) COLLATE \"C\" >= $1 "
     "AND lower(username) COLLATE \"C\" < $2 ORDER BY lower(username) COLLATE \"C\" LIMIT $3"},
    {"find_users", "SELECT id, username FROM users WHERE id = ANY ($1::int8[]) ORDER BY id"},
    {"revoke_token",
     // Expired entries can never matter again (the token fails its own expiry check).
     "WITH pruned AS (DELETE FROM revoked_tokens WHERE expires_at < $3) "
     "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING"},
    {"load_revoked", "SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > $1"},
    // Uploads (issue 15). The quota check and the insert are one statement: two concurrent
    // uploads of one owner may both pass it (READ COMMITTED), by at most one file each.
    {"create_upload",
     "WITH used AS (SELECT coalesce(sum(size), 0)::int8 AS bytes FROM uploads "
     "WHERE owner_id = $2::int8), "
     "ins AS (INSERT INTO uploads (id, owner_id, name, size, type, sha256, created_at, width, "
     "height, thumb_sha256, thumb_size) SELECT $1, $2::int8, $3, $4::int8, $5, $6, $7::int8, "
     "$8::int8, $9::int8, $10, $12::int8 FROM used WHERE used.bytes + $4::int8 <= $11::int8 "
     "RETURNING size) "
     "SELECT (SELECT count(*) FROM ins) = 0, (SELECT bytes FROM used) + "
     "coalesce((SELECT size FROM ins), 0)"},
    {"find_owned_uploads",
     "SELECT id, owner_id, name, size, type, sha256, created_at, width, height, thumb_sha256, "
     "thumb_size FROM uploads WHERE owner_id = $1::int8 AND id = ANY ($2::text[])"},
    {"find_upload",
     "SELECT u.id, u.owner_id, u.name, u.size, u.type, u.sha256, u.created_at, u.width, "
     "u.height, u.thumb_sha256, u.thumb_size FROM uploads u WHERE u.id = $1 AND ($2::int8 = 0 OR "
     "u.owner_id = $2::int8 OR EXISTS (SELECT 1 FROM message_attachments a JOIN "
     "users_conversations uc ON uc.conversation_id = a.conversation_id AND uc.user_id = $2::int8 "
     "WHERE a.upload_id = u.id) OR EXISTS (SELECT 1 FROM users p WHERE p.avatar_upload = u.id))"},
    {"set_last_online",
     "UPDATE users SET last_online = greatest(coalesce(last_online, 0), $2) WHERE id = $1"},
    {"create_conversation",
     "SELECT r.denial, r.created, r.conv, s.*, NULL::int8, NULL::int8, NULL::text "
     "FROM rc_create_conversation($1, $2, $3, $4, $5) r "
     "LEFT JOIN LATERAL rc_state(r.conv) s ON true"},
    // A membership change's row: denial, changed, conversation, rc_state's columns, then the
    // system entry's id, seq and body (pg_chat_store.cc, ReadMembershipRow).
    {"add_members",
     "SELECT r.denial, r.changed, $1::int8, s.*, r.sys_id, r.sys_seq, r.sys_body "
     "FROM rc_add_members($1, $2, $3, $4, $5) r LEFT JOIN LATERAL rc_state($1) s ON true"},
    {"remove_member",
     "SELECT r.denial, r.changed, $1::int8, s.*, r.sys_id, r.sys_seq, r.sys_body "
     "FROM rc_remove_member($1, $2, $3, $4) r LEFT JOIN LATERAL rc_state($1) s ON true"},
    {"change_group",
     "SELECT r.denial, r.changed, $2::int8, s.*, r.sys_id, r.sys_seq, r.sys_body "
     "FROM rc_change_group($1, $2, $3, $4, $5, $6, $7, $8, $9) r "
     "LEFT JOIN LATERAL rc_state($2) s ON true"},
    {"change_message",
     "SELECT * FROM rc_change_message($1, $2, $3, $4, $5, $6, $7, $8, "
     "$9::int8[], $10::text[], $11::boolean, $12, $13)"},
    {"list_conversations",
     "SELECT c.id, c.name, c.is_group, c.last_seq, uc.read_seq, "
     "(SELECT array_agg(user_id ORDER BY user_id) FROM users_conversations "
     " WHERE conversation_id = c.id), " RC_MESSAGE_COLUMNS
     ", uc.muted_until, (SELECT count(*) FROM mentions mn WHERE mn.conversation_id = c.id "
     " AND mn.user_id = $1 AND mn.seq > uc.read_seq), " RC_UNREAD_ORDINARY
     ", c.topic, (SELECT array_agg(role ORDER BY user_id) FROM users_conversations "
     " WHERE conversation_id = c.id), c.avatar_upload"
     " FROM users_conversations uc JOIN conversations c ON c.id = uc.conversation_id "
     "LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = " RC_LAST_ORDINARY_SEQ " "
     "WHERE uc.user_id = $1 ORDER BY coalesce(m.sent_at, c.created_at) DESC, c.id DESC"},
    {"session_conversations",
     "SELECT c.id, c.last_seq, (SELECT array_agg(user_id ORDER BY user_id) "
     "FROM users_conversations WHERE conversation_id = c.id) "
     "FROM users_conversations uc JOIN conversations c ON c.id = uc.conversation_id "
     "WHERE uc.user_id = $1"},
    {"session_contacts",
     "SELECT DISTINCT u.id, u.last_online FROM users_conversations mine "
     "JOIN users_conversations theirs ON theirs.conversation_id = mine.conversation_id "
     "JOIN users u ON u.id = theirs.user_id "
     "WHERE mine.user_id = $1 AND theirs.user_id <> $1 ORDER BY u.id"},
    // last_seq, delivered, read, member: no row when there is no such conversation.
    {"membership",
     "SELECT c.last_seq, coalesce(uc.delivered_seq, 0), coalesce(uc.read_seq, 0), "
     "uc.user_id IS NOT NULL FROM conversations c LEFT JOIN users_conversations uc "
     "ON uc.conversation_id = c.id AND uc.user_id = $2 WHERE c.id = $1"},
    // Locks the batch's conversations in id order, so that concurrent batches (other writer
    // connections, other nodes) never wait for each other in a cycle.
    {"lock_conversations",
     "SELECT id FROM conversations WHERE id = ANY ($1::int8[]) ORDER BY id FOR UPDATE"},
    // The append batch: one statement for every message of a batch. One row per input row:
    // 'i' stored now (with its new id and seq), 'd' stored before (a resend: the original's id,
    // seq, conv, kind, body, sent_at), 'b' the same sender and cid as the earlier input row
    // `first` (which decides its fate), 'f' refused (not a member, or no such conversation);
    // in no particular order (the caller places rows by ord). seq is numbered gap-free from
    // the conversation's last_seq, current because lock_conversations holds its row lock, in
    // input order; last_seq advances; each sender's read and delivered watermarks move to its
    // newest message (schema v2 on SQLite). Written without joins between the batch's own
    // CTEs: their row estimates are guesses, and a nested loop over two CTEs of a 1,000-row
    // batch is a million comparisons. Every lookup is an index probe per input row, written as
    // LATERAL … LIMIT 1 so that the planner cannot turn it into a hashed subplan (a scan of
    // the whole table per batch, which a plan made while the tables were small would keep).
    {"append_batch",
     "WITH input AS ("
     "  SELECT t.*, min(t.ord) OVER (PARTITION BY t.sender, t.cid) AS first FROM unnest("
     "    $1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[], "
     "    $8::int8[], $9::int8[]) "
     "    WITH ORDINALITY AS t(conv, sender, cid, kind, body, ts, att, reply_to, thread, ord)"
     "), checked AS ("
     "  SELECT i.*, old.id AS old_id, old.seq AS old_seq, old.conversation_id AS old_conv, "
     "    old.kind AS old_kind, old.body AS old_body, old.sent_at AS old_ts, "
     "    old.attachments AS old_att, "
     "    old.id IS NULL AND coalesce(member.hit, call_record.hit) IS NOT NULL "
     "      AND (i.reply_to = 0 OR parent.seq IS NOT NULL) "
     "      AS fresh, "
     "    coalesce(member.hit, call_record.hit) IS NOT NULL AND i.reply_to <> 0 "
     "      AND parent.seq IS NULL AS orphan, "
     "    CASE WHEN i.thread <> 0 THEN parent.root END AS root, "
     "    parent.sender_id || chr(31) || CASE WHEN parent.deleted THEN 't' ELSE 'f' END "
     "      || chr(31) || parent.excerpt AS quote "
     "  FROM input i "
     "  LEFT JOIN LATERAL (SELECT * FROM messages m WHERE m.sender_id = i.sender "
     "    AND m.client_msg_id = i.cid LIMIT 1) old ON true "
     "  LEFT JOIN LATERAL (SELECT true AS hit FROM users_conversations uc WHERE i.ord = i.first "
     "    AND uc.conversation_id = i.conv AND uc.user_id = i.sender "
     "    AND NOT EXISTS (SELECT 1 FROM conversations dc JOIN users_conversations o "
     "      ON o.conversation_id = dc.id AND o.user_id <> i.sender "
     "      WHERE dc.id = i.conv AND NOT dc.is_group AND ("
     "      EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = i.sender AND b.blocked = o.user_id) "
     "      OR EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = o.user_id "
     "        AND b.blocked = i.sender))) LIMIT 1) member ON true"
     // A call's record is taken from its caller whatever changed since the call began (a
     // block that ended it, the caller removed from the group): the server writes it alone.
     // A probe of its own, so that the membership probe above keeps its LATERAL … LIMIT 1 form.
     "  LEFT JOIN LATERAL (SELECT true AS hit FROM conversations cc WHERE i.ord = i.first "
     "    AND i.kind = '" RINGCAST_CALL_KIND_SQL "' AND cc.id = i.conv LIMIT 1) call_record ON true"
     // A reply's parent (schema v14): an ordinary message of the same conversation.
     "  LEFT JOIN LATERAL (SELECT p.seq, p.sender_id, p.deleted_at IS NOT NULL AS deleted, "
     "    substr(p.body, 1, 100) AS excerpt, coalesce(p.thread_root, p.seq) AS root "
     "    FROM messages p WHERE i.reply_to <> 0 AND p.conversation_id = i.conv "
     "    AND p.seq = i.reply_to AND p." RINGCAST_ORDINARY_KIND_SQL " LIMIT 1) parent ON true"
     "), numbered AS ("
     "  SELECT c.ord, c.first, c.conv, c.sender, c.cid, c.kind, c.body, c.ts, c.att, "
     "    c.reply_to, c.root, c.quote, "
     "    nextval('messages_id_seq') AS id, "
     "    (SELECT last_seq FROM conversations WHERE id = c.conv) "
     "      + row_number() OVER (PARTITION BY c.conv ORDER BY c.ord) AS seq "
     "  FROM checked c WHERE c.fresh"
     "), bumped AS ("
     "  UPDATE conversations SET last_seq = b.top "
     "  FROM (SELECT conv, max(seq) AS top FROM numbered GROUP BY conv) b "
     "  WHERE conversations.id = b.conv"
     "), inserted AS ("
     "  INSERT INTO messages (id, conversation_id, seq, sender_id, kind, body, sent_at, "
     "    client_msg_id, attachments, reply_to, thread_root) "
     "  SELECT id, conv, seq, sender, kind, body, ts, cid, att, nullif(reply_to, 0), root "
     "  FROM numbered"
     // A thread's root counts its replies (schema v14), in the transaction that stores them.
     "), threaded AS ("
     "  UPDATE messages r SET reply_count = r.reply_count + t.n, last_reply_seq = t.top, "
     "    last_reply_at = t.ts "
     "  FROM (SELECT conv, root, count(*) AS n, max(seq) AS top, max(ts) AS ts FROM numbered "
     "    WHERE root IS NOT NULL GROUP BY conv, root) t "
     "  WHERE r.conversation_id = t.conv AND r.seq = t.root"
     // A thread reply's sender has read its thread up to it (as its conversation: own_read).
     "), own_thread_read AS ("
     "  INSERT INTO thread_reads (conversation_id, root_seq, user_id, read_seq) "
     "  SELECT conv, root, sender, max(seq) FROM numbered WHERE root IS NOT NULL "
     "  GROUP BY conv, root, sender ON CONFLICT (conversation_id, root_seq, user_id) "
     "  DO UPDATE SET read_seq = greatest(thread_reads.read_seq, excluded.read_seq)"
     "), own_read AS ("
     "  UPDATE users_conversations uc SET read_seq = greatest(uc.read_seq, o.top), "
     "    delivered_seq = greatest(uc.delivered_seq, o.top) "
     "  FROM (SELECT conv, sender, max(seq) AS top FROM numbered GROUP BY conv, sender) o "
     "  WHERE uc.conversation_id = o.conv AND uc.user_id = o.sender AND uc.read_seq < o.top"
     ") "
     "SELECT ord, 'i', id, seq, NULL::int8, NULL, NULL, NULL::int8, first, NULL, root, quote "
     "FROM numbered "
     "UNION ALL "
     "SELECT ord, CASE WHEN old_id IS NOT NULL THEN 'd' WHEN ord <> first THEN 'b' "
     "  WHEN orphan THEN 'n' ELSE 'f' END, "
     "  old_id, old_seq, old_conv, old_kind, old_body, old_ts, first, old_att, NULL::int8, NULL "
     "FROM checked WHERE NOT fresh"},
    // After append_batch, in its transaction: the rows that let a conversation's members read
    // the files its messages carry (issue 15), found by (sender, cid) as the batch stored them.
    {"append_attachments",
     "INSERT INTO message_attachments (message_id, position, upload_id, conversation_id) "
     "SELECT m.id, a.pos::int, a.upload, m.conversation_id FROM unnest($1::int8[], $2::text[], "
     "$3::int8[], $4::text[]) AS a(sender, cid, pos, upload) JOIN messages m "
     "ON m.sender_id = a.sender AND m.client_msg_id = a.cid ON CONFLICT DO NOTHING"},
};

// Mentions, mute and notifications (issue 14; pg_notify_store.cc).
constexpr PgStatement kNotifyStatements[] = {
    // After append_batch, in its transaction: the batch's mentions. One input row per candidate
    // ($1 sender, $2 cid: the message; $3 a user id, or 0 and $4 a lowercased username); kept
    // for members other than the sender.
    {"append_mentions",
     "INSERT INTO mentions (user_id, message_id, conversation_id, seq) "
     "SELECT DISTINCT uc.user_id, m.id, m.conversation_id, m.seq "
     "FROM unnest($1::int8[], $2::text[], $3::int8[], $4::text[]) AS x(sender, cid, target, name) "
     "JOIN messages m ON m.sender_id = x.sender AND m.client_msg_id = x.cid "
     "CROSS JOIN LATERAL (SELECT x.target AS id WHERE x.target <> 0 UNION ALL "
     "  SELECT u.id FROM users u WHERE x.target = 0 AND lower(u.username) = x.name) who "
     "JOIN users_conversations uc ON uc.conversation_id = m.conversation_id "
     "  AND uc.user_id = who.id "
     "WHERE uc.user_id <> x.sender ON CONFLICT DO NOTHING RETURNING user_id, message_id"},
    {"list_mentions",
     "SELECT " RC_MESSAGE_COLUMNS
     " FROM mentions mn JOIN messages m ON m.conversation_id = mn.conversation_id "
     "AND m.seq = mn.seq JOIN users_conversations uc ON uc.conversation_id = mn.conversation_id "
     "AND uc.user_id = mn.user_id WHERE mn.user_id = $1 AND mn.message_id < $2 "
     "AND m.target IS NULL ORDER BY mn.message_id DESC LIMIT $3"},
    // $3 0: unmute. Rows changed, and whether the conversation exists.
    {"set_mute",
     "WITH changed AS (UPDATE users_conversations SET muted_until = nullif($3::int8, 0) "
     "  WHERE conversation_id = $1 AND user_id = $2 RETURNING 1) "
     "SELECT (SELECT count(*) FROM changed), EXISTS (SELECT 1 FROM conversations WHERE id = $1)"},
    {"mark_notified",
     "UPDATE users_conversations SET notified_seq = $3 "
     "WHERE conversation_id = $1 AND user_id = $2 AND notified_seq < $3"},
    // DueNotification (chat_store.h): $1 now, $2 the window, $3 the limit.
    {"due_notifications",
     "WITH pending AS ("
     "  SELECT uc.conversation_id AS conv, uc.user_id AS usr, "
     "    greatest(uc.read_seq, uc.delivered_seq, uc.notified_seq) AS mark, uc.muted_until, "
     "    c.name, c.is_group FROM users_conversations uc "
     "  JOIN conversations c ON c.id = uc.conversation_id "
     "  WHERE c.last_seq > uc.read_seq AND c.last_seq > uc.delivered_seq "
     "    AND c.last_seq > uc.notified_seq"
     "), windows AS ("
     "  SELECT p.*, f.sent_at AS first_ts FROM pending p JOIN messages f "
     "    ON f.conversation_id = p.conv AND f.seq = p.mark + 1 "
     "    WHERE f.sent_at <= $1::int8 - $2::int8 "
     "  ORDER BY f.sent_at LIMIT $3::int8"
     "), covered AS ("
     "  SELECT w.*, (SELECT max(m.seq) FROM messages m WHERE m.conversation_id = w.conv "
     "    AND m.seq > w.mark AND m.sent_at <= w.first_ts + $2::int8) AS top "
     "    FROM windows w"
     // Changes to messages (schema v11) are covered, never counted nor shown: the latest is
     // the newest ordinary message of the window when it has one. An edit that newly names a
     // member who had read its target mentions them by the edit's own row: that target is
     // counted as a message of the window, and shown when nothing newer is.
     "), shown AS ("
     "  SELECT cv.*, (SELECT max(o.seq) FROM messages o WHERE o.conversation_id = cv.conv "
     "    AND o.seq > cv.mark AND o.seq <= cv.top AND o." RINGCAST_ORDINARY_KIND_SQL ") AS latest, "
     "  (SELECT e.target FROM mentions mn JOIN messages e "
     "    ON e.conversation_id = mn.conversation_id AND e.seq = mn.seq "
     "    WHERE mn.conversation_id = cv.conv AND mn.user_id = cv.usr "
     "    AND mn.seq > cv.mark AND mn.seq <= cv.top AND e.target IS NOT NULL "
     "    ORDER BY mn.seq DESC LIMIT 1) AS mentioned_by_edit, "
     "  (SELECT count(DISTINCT e.target) FROM mentions mn JOIN messages e "
     "    ON e.conversation_id = mn.conversation_id AND e.seq = mn.seq "
     "    WHERE mn.conversation_id = cv.conv AND mn.user_id = cv.usr AND mn.seq > cv.mark "
     "    AND mn.seq <= cv.top AND e.target IS NOT NULL) AS edits_mentioning "
     "  FROM covered cv"
     ") "
     "SELECT cv.conv, cv.usr, cv.mark, cv.muted_until, cv.name, cv.is_group, cv.top, u.username, "
     "  (SELECT count(*) FROM mentions mn WHERE mn.conversation_id = cv.conv "
     "   AND mn.user_id = cv.usr AND mn.seq > cv.mark AND mn.seq <= cv.top), " RC_MESSAGE_COLUMNS
     ", s.username, (SELECT count(*) FROM messages o WHERE o.conversation_id = cv.conv "
     "  AND o.seq > cv.mark AND o.seq <= cv.top AND o." RINGCAST_ORDINARY_KIND_SQL
     ") + cv.edits_mentioning "
     "FROM shown cv JOIN users u ON u.id = cv.usr "
     "JOIN messages m ON m.conversation_id = cv.conv "
     "  AND m.seq = coalesce(cv.latest, cv.mentioned_by_edit, cv.top) "
     "JOIN users s ON s.id = m.sender_id ORDER BY cv.first_ts"},
};

}  // namespace

std::span<const PgStatement> PgPreparedStatements() {
  static const std::vector<PgStatement> all = [] {
    std::vector<PgStatement> statements(std::begin(kStatements), std::end(kStatements));
    statements.insert(statements.end(), std::begin(kNotifyStatements), std::end(kNotifyStatements));
    for (const PgStatement& push : PgPushStatements()) statements.push_back(push);
    for (const PgStatement& upload : PgUploadStatements()) statements.push_back(upload);
    for (const PgStatement& token : PgTokenStatements()) statements.push_back(token);
    for (const PgStatement& profile : PgProfileStatements()) statements.push_back(profile);
    for (const PgStatement& search : PgSearchStatements()) statements.push_back(search);
    for (const PgStatement& read : PgHistoryStatements()) statements.push_back(read);
    return statements;
  }();
  return all;
}

}  // namespace ringcast::storage
