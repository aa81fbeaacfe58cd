// PgChatStore's Web Push subscriptions, account email and email digests (schema v5,
// storage/SCHEMA.md), and the settings every node shares (the VAPID key), kept out of
// pg_chat_store.cc so that file stays the chat's. The same SQL as sqlite_push_store.cc, in
// PostgreSQL's dialect.

#include "storage/message_kinds.h"
#include "storage/pg_chat_store.h"
#include "storage/pg_schema.h"
#include "storage/pg_store_internal.h"

namespace ringcast::storage {
namespace {

#define RC_DIGEST_MARK "greatest(uc.delivered_seq, coalesce(d.emailed_seq, 0))"

constexpr PgStatement kPushStatements[] = {
    {"push_add",
     "INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, created_at) "
     "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (endpoint) DO UPDATE SET "
     "user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth, "
     "created_at = excluded.created_at"},
    {"push_trim",
     "DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint NOT IN ("
     "SELECT endpoint FROM push_subscriptions WHERE user_id = $1 "
     "ORDER BY created_at DESC, endpoint LIMIT $2)"},
    {"push_remove",
     "DELETE FROM push_subscriptions WHERE endpoint = $1 AND user_id = $2 RETURNING endpoint"},
    {"push_list",
     "SELECT endpoint, p256dh, auth, created_at FROM push_subscriptions WHERE user_id = $1 "
     "ORDER BY created_at, endpoint"},
    {"set_email", "UPDATE users SET email = $2 WHERE id = $1 RETURNING id"},
    {"find_account", "SELECT username, email FROM users WHERE id = $1"},
    // ChatStore::DueDigests; the plan and the reasons are sqlite_push_store.cc's.
    {"due_digests",
     "WITH due AS ("
     "  SELECT u.id, u.username, u.email FROM users u"
     "  WHERE u.email IS NOT NULL AND u.id > $2 AND EXISTS ("
     "    SELECT 1 FROM users_conversations uc"
     "    JOIN conversations c ON c.id = uc.conversation_id"
     "    LEFT JOIN email_digests d"
     "      ON d.conversation_id = uc.conversation_id AND d.user_id = uc.user_id"
     "    JOIN messages m ON m.conversation_id = uc.conversation_id"
     "      AND m.seq = " RC_DIGEST_MARK " + 1"
     "    WHERE uc.user_id = u.id AND c.last_seq > " RC_DIGEST_MARK " AND m.sent_at <= $1)"
     "  ORDER BY u.id LIMIT $3"
     ") "
     // Changes to messages (schema v11) are neither counted nor shown (message_kinds.h).
     "SELECT due.id, due.username, due.email, c.id, c.name, " RC_UNREAD_ORDINARY ", "
     "  c.last_seq, m.id, m.seq, m.sender_id, m.kind, m.body, m.sent_at, s.username,"
     "  (SELECT string_agg(o.username, ',') FROM (SELECT ou.username FROM users_conversations x"
     "     JOIN users ou ON ou.id = x.user_id WHERE x.conversation_id = c.id"
     "     AND x.user_id <> due.id ORDER BY ou.id LIMIT 3) o)"
     " FROM due JOIN users_conversations uc ON uc.user_id = due.id"
     " JOIN conversations c ON c.id = uc.conversation_id"
     " LEFT JOIN email_digests d ON d.conversation_id = uc.conversation_id"
     "   AND d.user_id = due.id"
     " JOIN messages m ON m.conversation_id = c.id AND m.seq = " RC_LAST_ORDINARY_SEQ
     " JOIN users s ON s.id = m.sender_id"
     " WHERE c.last_seq > greatest(uc.read_seq, coalesce(d.emailed_seq, 0))"
     "   AND " RC_UNREAD_ORDINARY " > 0"
     " ORDER BY due.id, m.sent_at DESC, c.id DESC"},
    // Through users_conversations: a member removed since the digest was read is skipped.
    {"mark_digested",
     "INSERT INTO email_digests (conversation_id, user_id, emailed_seq) "
     "SELECT uc.conversation_id, uc.user_id, x.seq FROM unnest($2::int8[], $3::int8[]) "
     "AS x(conv, seq) JOIN users_conversations uc ON uc.conversation_id = x.conv "
     "AND uc.user_id = $1 ON CONFLICT (conversation_id, user_id) DO UPDATE SET "
     "emailed_seq = greatest(email_digests.emailed_seq, excluded.emailed_seq)"},
};
#undef RC_DIGEST_MARK

// Every write here is idempotent (an upsert, a delete, a forward-only watermark): retried
// after a lost connection. Writes of one user go to one lane, so they apply in order.
template <typename T, typename Consume>
void SubmitWrite(PgPipeline& pipeline, int64_t user, std::vector<PgQuery> queries, Consume consume,
                 Reply<T> reply) {
  pg_internal::Submit(pipeline, pg_internal::LaneOf(user), pg_internal::Kind::kIdempotentWrite,
                      std::move(queries), std::move(consume), std::move(reply));
}

template <typename T, typename Consume>
void SubmitRead(PgPipeline& pipeline, std::vector<PgQuery> queries, Consume consume,
                Reply<T> reply) {
  pg_internal::Submit(pipeline, PgPipeline::kReaders, pg_internal::Kind::kRead, std::move(queries),
                      std::move(consume), std::move(reply));
}

}  // namespace

std::span<const PgStatement> PgPushStatements() { return kPushStatements; }

Status KeepSharedSetting(PGconn* conn, const char* name, const std::string& candidate,
                         std::string* kept) {
  // The first node to get here decides; every later one reads its choice.
  const char* values[] = {name, candidate.c_str()};
  PGresult* result = PQexecParams(
      conn,
      "WITH added AS (INSERT INTO server_settings (name, value) VALUES ($1, $2) "
      "ON CONFLICT (name) DO NOTHING RETURNING value) "
      "SELECT value FROM added UNION ALL SELECT value FROM server_settings WHERE name = $1",
      2, nullptr, values, nullptr, nullptr, 0);
  const bool read = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) >= 1;
  if (read) *kept = PQgetvalue(result, 0, 0);
  std::string why = read ? "" : FirstLine(PQresultErrorMessage(result));
  PQclear(result);
  if (!read) return Status(Errc::kIo, std::string("cannot keep ") + name + ": " + why);
  return Status();
}

void PgChatStore::AddPushSubscription(PushSubscription subscription, uint32_t max_per_user,
                                      Reply<bool> reply) {
  const int64_t user = subscription.user;
  const std::string id = std::to_string(user);
  SubmitWrite(
      *pipeline_, user,
      {PgQuery{.statement = "push_add",
               .values = {std::move(subscription.endpoint), id, std::move(subscription.p256dh),
                          std::move(subscription.auth), std::to_string(subscription.created_at)}},
       PgQuery{.statement = "push_trim", .values = {id, std::to_string(max_per_user)}}},
      pg_internal::Done, std::move(reply));
}

void PgChatStore::RemovePushSubscription(int64_t user, std::string endpoint, Reply<bool> reply) {
  SubmitWrite(
      *pipeline_, user,
      {PgQuery{.statement = "push_remove", .values = {std::move(endpoint), std::to_string(user)}}},
      pg_internal::AnyRow, std::move(reply));
}

void PgChatStore::ListPushSubscriptions(int64_t user, Reply<std::vector<PushSubscription>> reply) {
  SubmitRead(*pipeline_, {PgQuery{.statement = "push_list", .values = {std::to_string(user)}}},
             pg_internal::RowsInto([user](const pg_internal::Row& row) {
               return PushSubscription{.user = user,
                                       .endpoint = row.Text(0),
                                       .p256dh = row.Text(1),
                                       .auth = row.Text(2),
                                       .created_at = row.Int(3)};
             }),
             std::move(reply));
}

void PgChatStore::SetEmail(int64_t user, std::optional<std::string> email, Reply<bool> reply) {
  const bool clear = !email;
  SubmitWrite(*pipeline_, user,
              {PgQuery{.statement = "set_email",
                       .values = {std::to_string(user), email.value_or("")},
                       .nulls = {false, clear}}},
              pg_internal::AnyRow, std::move(reply));
}

void PgChatStore::FindAccount(int64_t user, Reply<std::optional<Account>> reply) {
  SubmitRead(
      *pipeline_, {PgQuery{.statement = "find_account", .values = {std::to_string(user)}}},
      [user](PgResults results, std::optional<Account>& out) {
        if (PQntuples(results[0]) == 0) return Status();
        const pg_internal::Row row{results[0], 0};
        out = Account{.id = user, .username = row.Text(0)};
        if (!row.Null(1)) out->email = row.Text(1);
        return Status();
      },
      std::move(reply));
}

void PgChatStore::DueDigests(int64_t cutoff_ms, int64_t after_user, uint32_t max_users,
                             Reply<std::vector<Digest>> reply) {
  SubmitRead(
      *pipeline_,
      {PgQuery{.statement = "due_digests",
               .values = {std::to_string(cutoff_ms), std::to_string(after_user),
                          std::to_string(max_users)}}},
      [](PgResults results, std::vector<Digest>& out) {
        pg_internal::ForEachRow(results[0],
                                [&](const pg_internal::Row& row) { AddDigestRow(row, out); });
        return Status();
      },
      std::move(reply));
}

void PgChatStore::MarkDigested(int64_t user, std::vector<std::pair<int64_t, int64_t>> conv_seqs,
                               Reply<bool> reply) {
  std::vector<int64_t> convs, seqs;
  for (const auto& [conv, seq] : conv_seqs) {
    convs.push_back(conv);
    seqs.push_back(seq);
  }
  SubmitWrite(*pipeline_, user,
              {PgQuery{.statement = "mark_digested",
                       .values = {std::to_string(user), pg::Int8ArrayBinary(convs),
                                  pg::Int8ArrayBinary(seqs)},
                       .binary = {false, true, true}}},
              pg_internal::Done, std::move(reply));
}

}  // namespace ringcast::storage
