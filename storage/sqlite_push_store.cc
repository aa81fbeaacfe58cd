// SqliteChatStore's Web Push subscriptions, account email and email digests (schema v4,
// storage/SCHEMA.md), kept out of sqlite_chat_store.cc so that file stays the chat's.
#include <string>

#include "storage/message_kinds.h"
#include "storage/sqlite_chat_store.h"
#include "storage/sqlite_job.h"

namespace ringcast::storage {
namespace {

// A member's digest-pending point: past what was delivered to any of their connections (read
// implies delivered) and past what an earlier digest covered.
#define RC_DIGEST_MARK "max(uc.delivered_seq, coalesce(d.emailed_seq, 0))"

// A row of kDueDigests read as AddDigestRow (notification_store.h) reads it.
struct DigestColumns {
  Statement& row;
  int64_t Int(int column) const { return row.ColumnInt64(column); }
  std::string_view View(int column) const { return row.ColumnText(column); }
  std::string Text(int column) const { return std::string(View(column)); }
  bool Null(int column) const { return row.ColumnIsNull(column); }
};

// Users due a digest (ChatStore::DueDigests), with one row per unread conversation of theirs
// that has anything past its digest watermark. ?1 cutoff (ms), ?2 after user id, ?3 max users.
// The first pending message's time decides (an index probe on messages' primary key); the
// partial index users_with_email keeps the scan to users who have an address.
constexpr const char* kDueDigests =
    "WITH due AS ("
    "  SELECT u.id, u.username, u.email FROM users u"
    "  WHERE u.email IS NOT NULL AND u.id > ?2 AND EXISTS ("
    "    SELECT 1 FROM users_conversations uc"
    "    JOIN conversations c ON c.id = uc.conversation_id"
    "    LEFT JOIN email_digests d"
    "      ON d.conversation_id = uc.conversation_id AND d.user_id = uc.user_id"
    "    JOIN messages m ON m.conversation_id = uc.conversation_id"
    "      AND m.seq = " RC_DIGEST_MARK
    " + 1"
    "    WHERE uc.user_id = u.id AND c.last_seq > " RC_DIGEST_MARK
    " AND m.sent_at <= ?1)"
    "  ORDER BY u.id LIMIT ?3"
    ") "
    // Changes to messages (schema v11) are neither counted nor shown (message_kinds.h).
    "SELECT due.id, due.username, due.email, c.id, c.name, " RC_UNREAD_ORDINARY
    ", c.last_seq,"
    "  m.id, m.seq, m.sender_id, m.kind, m.body, m.sent_at, s.username,"
    "  (SELECT group_concat(username, ',') FROM (SELECT ou.username FROM users_conversations o"
    "     JOIN users ou ON ou.id = o.user_id WHERE o.conversation_id = c.id"
    "     AND o.user_id <> due.id ORDER BY ou.id LIMIT 3))"
    " FROM due JOIN users_conversations uc ON uc.user_id = due.id"
    " JOIN conversations c ON c.id = uc.conversation_id"
    " LEFT JOIN email_digests d ON d.conversation_id = uc.conversation_id AND d.user_id = due.id"
    " JOIN messages m ON m.conversation_id = c.id AND m.seq = " RC_LAST_ORDINARY_SEQ
    " JOIN users s ON s.id = m.sender_id"
    " WHERE c.last_seq > max(uc.read_seq, coalesce(d.emailed_seq, 0))"
    "   AND " RC_UNREAD_ORDINARY
    " > 0"
    " ORDER BY due.id, m.sent_at DESC, c.id DESC";
#undef RC_DIGEST_MARK

}  // namespace

void SqliteChatStore::AddPushSubscription(PushSubscription subscription, uint32_t max_per_user,
                                          Reply<bool> reply) {
  SubmitSqliteJob<bool>(
      *executor_, SqliteJobKind::kWrite,
      [subscription = std::move(subscription), max_per_user](SqliteDb& db, bool& out) {
        Status s = db.Run(
            "INSERT INTO push_subscriptions(endpoint, user_id, p256dh, auth, created_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(endpoint) DO UPDATE SET "
            "user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth, "
            "created_at = excluded.created_at",
            subscription.endpoint, subscription.user, subscription.p256dh, subscription.auth,
            subscription.created_at);
        if (!s.ok()) return s;
        out = true;
        return db.Run(
            "DELETE FROM push_subscriptions WHERE user_id = ?1 AND endpoint NOT IN ("
            "SELECT endpoint FROM push_subscriptions WHERE user_id = ?1 "
            "ORDER BY created_at DESC, endpoint LIMIT ?2)",
            subscription.user, max_per_user);
      },
      std::move(reply));
}

void SqliteChatStore::RemovePushSubscription(int64_t user, std::string endpoint,
                                             Reply<bool> reply) {
  SubmitStatement(Kind::kWrite, Answer::kAnyRow,
                  "DELETE FROM push_subscriptions WHERE endpoint = ?1 AND user_id = ?2 "
                  "RETURNING endpoint",
                  std::move(reply), std::move(endpoint), user);
}

void SqliteChatStore::ListPushSubscriptions(int64_t user,
                                            Reply<std::vector<PushSubscription>> reply) {
  SubmitSqliteJob<std::vector<PushSubscription>>(
      *executor_, SqliteJobKind::kRead,
      [user](SqliteDb& db, std::vector<PushSubscription>& out) {
        auto stmt = db.Prepare(
            "SELECT endpoint, p256dh, auth, created_at FROM push_subscriptions "
            "WHERE user_id = ?1 ORDER BY created_at, endpoint");
        stmt->Bind(user);
        return ForEachSqliteRow(*stmt, [&](Statement& row) {
          out.push_back(PushSubscription{.user = user,
                                         .endpoint = std::string(row.ColumnText(0)),
                                         .p256dh = std::string(row.ColumnText(1)),
                                         .auth = std::string(row.ColumnText(2)),
                                         .created_at = row.ColumnInt64(3)});
        });
      },
      std::move(reply));
}

void SqliteChatStore::SetEmail(int64_t user, std::optional<std::string> email, Reply<bool> reply) {
  SubmitStatement(Kind::kWrite, Answer::kAnyRow,
                  "UPDATE users SET email = ?2 WHERE id = ?1 RETURNING id", std::move(reply), user,
                  std::move(email));
}

void SqliteChatStore::FindAccount(int64_t user, Reply<std::optional<Account>> reply) {
  SubmitSqliteJob<std::optional<Account>>(
      *executor_, SqliteJobKind::kRead,
      [user](SqliteDb& db, std::optional<Account>& out) {
        auto stmt = db.Prepare("SELECT username, email FROM users WHERE id = ?1");
        stmt->Bind(user);
        return ForEachSqliteRow(*stmt, [&](Statement& row) {
          out = Account{.id = user, .username = std::string(row.ColumnText(0))};
          if (!row.ColumnIsNull(1)) out->email = std::string(row.ColumnText(1));
        });
      },
      std::move(reply));
}

void SqliteChatStore::DueDigests(int64_t cutoff_ms, int64_t after_user, uint32_t max_users,
                                 Reply<std::vector<Digest>> reply) {
  SubmitSqliteJob<std::vector<Digest>>(
      *executor_, SqliteJobKind::kRead,
      [cutoff_ms, after_user, max_users](SqliteDb& db, std::vector<Digest>& out) {
        auto stmt = db.Prepare(kDueDigests);
        stmt->Bind(cutoff_ms, after_user, max_users);
        return ForEachSqliteRow(*stmt,
                                [&](Statement& row) { AddDigestRow(DigestColumns{row}, out); });
      },
      std::move(reply));
}

void SqliteChatStore::MarkDigested(int64_t user, std::vector<std::pair<int64_t, int64_t>> conv_seqs,
                                   Reply<bool> reply) {
  SubmitSqliteJob<bool>(
      *executor_, SqliteJobKind::kWrite,
      [user, conv_seqs = std::move(conv_seqs)](SqliteDb& db, bool& out) {
        // Through users_conversations: a member removed since the digest was read is skipped
        // rather than failing the foreign key.
        auto stmt = db.Prepare(
            "INSERT INTO email_digests(conversation_id, user_id, emailed_seq) "
            "SELECT conversation_id, user_id, ?3 FROM users_conversations "
            "WHERE conversation_id = ?1 AND user_id = ?2 "
            "ON CONFLICT DO UPDATE SET emailed_seq = max(emailed_seq, excluded.emailed_seq)");
        for (const auto& [conv, seq] : conv_seqs) {
          stmt->Reset();
          stmt->Bind(conv, user, seq);
          if (Status s = stmt->Exec(); !s.ok()) return s;
        }
        out = true;
        return Status();
      },
      std::move(reply));
}

}  // namespace ringcast::storage
