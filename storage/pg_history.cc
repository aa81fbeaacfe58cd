// PgChatStore's reads of messages (pg_chat_store.h), apart from pg_chat_store.cc to keep each file
// to one job: history, threads, pins, stars, sync, watermarks, gap fills and last seqs, with
// the statements they prepare; the reads a replica may answer go there first (pg_replica.h).
#include <algorithm>

#include "storage/message_kinds.h"
#include "storage/pg_store_internal.h"

namespace ringcast::storage {

using namespace pg_internal;  // NOLINT: the backend's shared helpers (pg_store_internal.h).

namespace {

// The conversations a sync covers: those asked for ($2 ids, $3 afters; in the order asked), or
// every conversation of the user ($1) from the start when nothing was asked for.
#define RC_SYNC_ASKS                                                                     \
  "WITH asks AS ("                                                                       \
  "  SELECT a.conv, a.after, a.ord FROM unnest($2::int8[], $3::int8[]) WITH ORDINALITY " \
  "    AS a(conv, after, ord)"                                                           \
  "  UNION ALL "                                                                         \
  "  SELECT conversation_id, 0, conversation_id FROM users_conversations "               \
  "  WHERE user_id = $1 AND cardinality($2::int8[]) = 0"                                 \
  "), mine AS ("                                                                         \
  "  SELECT a.* FROM asks a JOIN users_conversations uc "                                \
  "    ON uc.conversation_id = a.conv AND uc.user_id = $1"                               \
  ") "

// Prepared on every connection (PgPreparedStatements).
constexpr PgStatement kHistoryStatements[] = {
    {"update_watermarks", "SELECT * FROM rc_update_watermarks($1, $2, $3, $4)"},
    // Cluster gap fill (docs/cluster.md): no membership check, the server asks for itself.
    {"read_range", "SELECT " RC_MESSAGE_COLUMNS " FROM messages m WHERE m.conversation_id = $1 "
                   "AND m.seq > $2 ORDER BY m.seq LIMIT $3"},
    // Pinned messages of $1 for a member $2, newest pin first (the flag bounds them).
    {"list_pins", "SELECT " RC_MESSAGE_COLUMNS " FROM messages m WHERE m.conversation_id = $1 "
                  "AND m.pinned_at IS NOT NULL AND EXISTS (SELECT 1 FROM users_conversations "
                  "WHERE conversation_id = $1 AND user_id = $2) "
                  "ORDER BY m.pinned_at DESC, m.seq DESC LIMIT 1000"},
    {"last_seqs", "SELECT id, last_seq FROM conversations WHERE id = ANY ($1::int8[])"},
    // Newest first below $3, at most $4 rows, while the byte budget $5 lasts (a row is taken
    // while any budget is left, as PageLimit says); only for a member ($2).
    {"history", "SELECT * FROM (SELECT " RC_MESSAGE_COLUMNS
                ", sum(octet_length(m.body) + octet_length(m.kind) + 96) OVER (ORDER BY m.seq DESC "
                "  ROWS UNBOUNDED PRECEDING) "
                "  - (octet_length(m.body) + octet_length(m.kind) + 96) AS spent "
                "FROM messages m WHERE m.conversation_id = $1 AND m.seq < $3 AND EXISTS "
                "(SELECT 1 FROM users_conversations WHERE conversation_id = $1 AND user_id = $2) "
                "ORDER BY m.seq DESC LIMIT $4) page WHERE spent < $5 ORDER BY seq DESC"},
    {"sync_conversations", RC_SYNC_ASKS
     "SELECT mine.ord, mine.conv, mine.after, c.last_seq, uc.read_seq, s.members, s.delivered, "
     "s.reads, (SELECT count(*) FROM mentions mn WHERE mn.conversation_id = mine.conv "
     " AND mn.user_id = $1 AND mn.seq > uc.read_seq), " RC_UNREAD_ORDINARY
     " FROM mine JOIN conversations c ON c.id = mine.conv "
     "JOIN users_conversations uc ON uc.conversation_id = mine.conv AND uc.user_id = $1 "
     "CROSS JOIN LATERAL rc_state(mine.conv) s ORDER BY mine.ord"},
    // $4 messages per conversation at most, $5 bytes over the whole answer.
    {"sync_messages", RC_SYNC_ASKS
     ", page AS (SELECT mine.ord, " RC_MESSAGE_COLUMNS
     ", octet_length(m.body) + octet_length(m.kind) + 96 AS cost FROM mine "
     "  CROSS JOIN LATERAL (SELECT * FROM messages WHERE conversation_id = mine.conv "
     "    AND seq > mine.after ORDER BY seq LIMIT $4) m"
     "), costed AS (SELECT page.*, sum(cost) OVER (ORDER BY ord, seq ROWS UNBOUNDED PRECEDING) "
     "  - cost AS spent FROM page) "
     "SELECT ord, id, conversation_id, seq, sender_id, kind, body, sent_at, attachments, "
     "mentioned, target, edited_at, deleted_at, deleted_by, reaction_on, reacted, pinned_at, "
     "pinned_by, reply_to, quote, thread_root, reply_count, last_reply_seq, last_reply_at "
     "FROM costed "
     "WHERE spent < $5 ORDER BY ord, seq"},
    // The replies of a thread (schema v14) below $3, newest first, at most $4 rows; only for a
    // member ($5). The root is checked by thread_root.
    {"thread",
     "SELECT " RC_MESSAGE_COLUMNS " FROM messages m WHERE m.conversation_id = $1 "
     "AND m.thread_root = $2 AND m.seq < $3 AND EXISTS (SELECT 1 FROM users_conversations "
     "WHERE conversation_id = $1 AND user_id = $5) ORDER BY m.seq DESC LIMIT $4"},
    // Whether seq $2 of $1 can be a thread's root (an ordinary message in no thread itself):
    // then the watermark of user $3 in its thread and the replies by others above it.
    {"thread_root",
     "SELECT coalesce(tr.read_seq, 0), (SELECT count(*) FROM messages r "
     "  WHERE r.conversation_id = $1 AND r.thread_root = $2 "
     "  AND r.seq > coalesce(tr.read_seq, 0) AND r.sender_id <> $3) "
     "FROM messages m LEFT JOIN thread_reads tr ON tr.conversation_id = $1 "
     "  AND tr.root_seq = $2 AND tr.user_id = $3 "
     "WHERE m.conversation_id = $1 AND m.seq = $2 "
     "AND m.thread_root IS NULL AND m." RINGCAST_ORDINARY_KIND_SQL},
    // Moves the thread watermark of member $3 (never back, never past the conversation's
    // last_seq); no row: not a member, or no such root.
    {"thread_read",
     "INSERT INTO thread_reads (conversation_id, root_seq, user_id, read_seq) "
     "SELECT $1, $2, $3, least($4, c.last_seq) FROM conversations c "
     "JOIN users_conversations uc ON uc.conversation_id = c.id AND uc.user_id = $3 "
     "JOIN messages m ON m.conversation_id = c.id AND m.seq = $2 AND m.thread_root IS NULL "
     "AND m." RINGCAST_ORDINARY_KIND_SQL " WHERE c.id = $1 "
     "ON CONFLICT (conversation_id, root_seq, user_id) "
     "DO UPDATE SET read_seq = greatest(thread_reads.read_seq, excluded.read_seq) "
     "RETURNING read_seq"},
    // Stars (SetStar): message $3 of $2 for a member $1 at $4; a row, whether it is deleted,
    // when there is such a message (a deleted one is not starred). Unstarring is alike.
    {"star_add",
     "WITH target AS (SELECT m.id, m.deleted_at IS NOT NULL AS deleted FROM messages m "
     "WHERE m.conversation_id = $2 AND m.seq = $3 AND m." RINGCAST_ORDINARY_KIND_SQL
     " AND EXISTS (SELECT 1 FROM users_conversations WHERE conversation_id = $2 "
     "AND user_id = $1)), added AS (INSERT INTO stars (user_id, message_id, conversation_id, "
     "seq, starred_at) SELECT $1, id, $2, $3, $4 FROM target WHERE NOT deleted "
     "ON CONFLICT DO NOTHING) SELECT deleted FROM target"},
    {"star_remove",
     "WITH target AS (SELECT m.id FROM messages m WHERE m.conversation_id = $2 AND m.seq = $3 "
     "AND m." RINGCAST_ORDINARY_KIND_SQL "), removed AS (DELETE FROM stars WHERE user_id = $1 "
     "AND message_id IN (SELECT id FROM target)) SELECT false FROM target"},
    // The messages $1 starred below id $2, newest first, at most $3 rows (ListStars).
    {"list_stars",
     "SELECT " RC_MESSAGE_COLUMNS " FROM stars s JOIN messages m ON m.conversation_id = "
     "s.conversation_id AND m.seq = s.seq WHERE s.user_id = $1 AND s.message_id < $2 AND "
     "m.deleted_at IS NULL AND EXISTS (SELECT 1 FROM users_conversations uc WHERE "
     "uc.conversation_id = s.conversation_id AND uc.user_id = $1) "
     "ORDER BY s.message_id DESC LIMIT $3"},
};

#undef RC_SYNC_ASKS

// Whether a replica's page of `conv` (history, threads: `membership` first) is fresh: the
// conversation holds what this node knows committed, what the client has seen (`seen`) and
// what the page names (everything below `before`), with the reader a member.
auto PageFresh(PgReplica* replica, int64_t conv, int64_t before, int64_t seen) {
  return [replica, conv, need = std::max(before - 1, seen)](PgResults results) {
    if (PQntuples(results[0]) != 1) return false;
    const Row row{results[0], 0};
    return row.Bool(3) && row.Int(0) >= std::max(need, replica->KnownSeq(conv));
  };
}

// What a "membership" query's answer (its first statement) refuses: no such conversation, or a
// reader who is no member; kNone when the page may be read.
Denial MembershipDenial(PGresult* membership) {
  if (PQntuples(membership) == 0) return Denial::kNotFound;
  return Row{membership, 0}.Bool(3) ? Denial::kNone : Denial::kForbidden;
}

}  // namespace

void PgChatStore::Thread(int64_t conv, int64_t user, int64_t root, int64_t before, int64_t seen,
                         PageLimit limit, Reply<ThreadPage> reply) {
  const int64_t below = PageBelow(before);
  ReadReplicaFirst(
      *pipeline_, replica_.get(), /*names_seen=*/seen > 0,
      {Query("membership", {Int(conv), Int(user)}),
       Query("thread_root", {Int(conv), Int(root), Int(user)}),
       Query("thread",
             {Int(conv), Int(root), Int(below), Int(int64_t{limit.count} + 1), Int(user)})},
      PageFresh(replica_.get(), conv, before, seen),
      [limit](PgResults results, ThreadPage& thread) {
        Page& out = thread.page;
        out.denial = MembershipDenial(results[0]);
        if (out.denial != Denial::kNone) return Status();
        if (PQntuples(results[1]) == 0) {
          out.denial = Denial::kNotFound;
          return Status();
        }
        thread.read_seq = Row{results[1], 0}.Int(0);
        thread.unread = Row{results[1], 0}.Int(1);
        ReadPageRows(results[2], limit, out.messages, out.more);
        return Status();
      },
      std::move(reply));
}

void PgChatStore::ThreadRead(int64_t conv, int64_t user, int64_t root, int64_t seq,
                             Reply<ThreadReadOutcome> reply) {
  // It moves the conversation's watermarks too, to a seq it does not return: the user's lists
  // read the primary a while.
  NoteChanged({user});
  Submit(
      *pipeline_, LaneOf(conv), Kind::kWrite,
      {Query("thread_read", {Int(conv), Int(root), Int(user), Int(seq)})},
      [](PgResults results, ThreadReadOutcome& out) {
        if (PQntuples(results[0]) == 0) {
          out.denial = Denial::kNotFound;
        } else {
          out.read_seq = Row{results[0], 0}.Int(0);
        }
        return Status();
      },
      std::move(reply));
}

void PgChatStore::ListPins(int64_t conv, int64_t user, Reply<Page> reply) {
  Submit(
      *pipeline_, PgPipeline::kReaders, Kind::kRead,
      {Query("membership", {Int(conv), Int(user)}), Query("list_pins", {Int(conv), Int(user)})},
      [](PgResults results, Page& out) {
        out.denial = MembershipDenial(results[0]);
        if (out.denial != Denial::kNone) return Status();
        ForEachRow(results[1], [&](const Row& row) { out.messages.push_back(row.ReadMessage(0)); });
        return Status();
      },
      std::move(reply));
}

void PgChatStore::SetStar(int64_t user, int64_t conv, int64_t seq, bool on, int64_t now,
                          Reply<Denial> reply) {
  Submit(
      *pipeline_, LaneOf(user), Kind::kIdempotentWrite,
      {Query("membership", {Int(conv), Int(user)}),
       on ? Query("star_add", {Int(user), Int(conv), Int(seq), Int(now)})
          : Query("star_remove", {Int(user), Int(conv), Int(seq)})},
      [](PgResults results, Denial& out) {
        out = MembershipDenial(results[0]);
        if (out != Denial::kNone) return Status();
        if (PQntuples(results[1]) == 0) {
          out = Denial::kNotFound;
        } else if (Row{results[1], 0}.Bool(0)) {
          out = Denial::kGone;
        }
        return Status();
      },
      std::move(reply));
}

void PgChatStore::ListStars(int64_t user, int64_t before, PageLimit limit, Reply<Page> reply) {
  const int64_t below = PageBelow(before);
  Submit(
      *pipeline_, PgPipeline::kReaders, Kind::kRead,
      {Query("list_stars", {Int(user), Int(below), Int(int64_t{limit.count} + 1)})},
      [limit](PgResults results, Page& out) {
        ReadPageRows(results[0], limit, out.messages, out.more);
        return Status();
      },
      std::move(reply));
}

void PgChatStore::History(int64_t conv, int64_t user, int64_t before, int64_t seen, PageLimit limit,
                          Reply<Page> reply) {
  const int64_t below = PageBelow(before);
  ReadReplicaFirst(
      *pipeline_, replica_.get(), /*names_seen=*/seen > 0,
      {Query("membership", {Int(conv), Int(user)}),
       Query("history",
             {Int(conv), Int(user), Int(below), Int(limit.count), Int(Clamp(limit.bytes))})},
      PageFresh(replica_.get(), conv, before, seen),
      [](PgResults results, Page& out) {
        out.denial = MembershipDenial(results[0]);
        if (out.denial != Denial::kNone) return Status();
        ForEachRow(results[1], [&](const Row& row) { out.messages.push_back(row.ReadMessage(0)); });
        // seq is gap-free from 1: older messages exist exactly when the oldest here is not 1.
        out.more = !out.messages.empty() && out.messages.back().seq > 1;
        return Status();
      },
      std::move(reply));
}

void PgChatStore::Sync(int64_t user, std::vector<SyncAsk> asks, PageLimit limit,
                       Reply<std::vector<SyncConversation>> reply) {
  std::vector<int64_t> convs, afters;
  for (const SyncAsk& ask : asks) {
    convs.push_back(ask.conv);
    afters.push_back(ask.after);
  }
  PgQuery conversations{
      .statement = "sync_conversations",
      .values = {Int(user), pg::Int8ArrayBinary(convs), pg::Int8ArrayBinary(afters)},
      .binary = {false, true, true}};
  PgQuery messages{.statement = "sync_messages",
                   .values = {Int(user), pg::Int8ArrayBinary(convs), pg::Int8ArrayBinary(afters),
                              Int(limit.count), Int(Clamp(limit.bytes))},
                   .binary = {false, true, true, false, false}};
  // Fresh: every conversation asked for is there (a member's), up to what the client has seen
  // and what this node knows committed; for "all of them", no membership change is missing.
  auto fresh = [replica = replica_.get(), user, asked = convs.size()](PgResults results) {
    if (asked == 0 ? replica->ChangedRecently(user) : size_t(PQntuples(results[0])) != asked) {
      return false;
    }
    bool fresh = true;
    ForEachRow(results[0], [&](const Row& row) {
      const int64_t conv = row.Int(1);
      fresh = fresh && row.Int(3) >= std::max(row.Int(2), replica->KnownSeq(conv));
      const std::vector<int64_t> members = row.Ints(5), delivered = row.Ints(6),
                                 reads = row.Ints(7);
      for (size_t i = 0; fresh && i < members.size() && i < delivered.size() && i < reads.size();
           ++i) {
        fresh = replica->WatermarksFresh(conv, members[i], delivered[i], reads[i]);
      }
    });
    return fresh;
  };
  // Each ask names what its client has seen (its `after`); "everything" names nothing.
  ReadReplicaFirst(
      *pipeline_, replica_.get(), /*names_seen=*/!convs.empty(),
      {std::move(conversations), std::move(messages)}, std::move(fresh),
      [](PgResults results, std::vector<SyncConversation>& out) {
        std::vector<int64_t> ords, afters;
        ForEachRow(results[0], [&](const Row& row) {
          SyncConversation conv;
          ords.push_back(row.Int(0));
          conv.conv = row.Int(1);
          afters.push_back(row.Int(2));
          conv.last_seq = row.Int(3);
          conv.read_seq = row.Int(4);
          const std::vector<int64_t> members = row.Ints(5);
          const std::vector<int64_t> delivered = row.Ints(6);
          const std::vector<int64_t> reads = row.Ints(7);
          for (size_t i = 0; i < members.size() && i < delivered.size() && i < reads.size(); ++i) {
            conv.members.push_back({members[i], delivered[i], reads[i]});
          }
          conv.unread_mentions = row.Int(8);
          conv.unread = row.Int(9);
          out.push_back(std::move(conv));
        });
        // Both results are ordered by ord: merge.
        size_t at = 0;
        ForEachRow(results[1], [&](const Row& row) {
          const int64_t ord = row.Int(0);
          while (at < ords.size() && ords[at] < ord) ++at;
          if (at < ords.size() && ords[at] == ord) out[at].messages.push_back(row.ReadMessage(1));
        });
        for (size_t i = 0; i < out.size(); ++i) {
          const int64_t newest = out[i].messages.empty() ? afters[i] : out[i].messages.back().seq;
          out[i].more = out[i].last_seq > newest;
        }
        return Status();
      },
      std::move(reply));
}

void PgChatStore::UpdateWatermarks(int64_t conv, int64_t user, int64_t delivered, int64_t read,
                                   Reply<WatermarkOutcome> reply) {
  Submit(
      *pipeline_, LaneOf(conv), Kind::kWrite,
      {Query("update_watermarks", {Int(conv), Int(user), Int(delivered), Int(read)})},
      [replica = replica_.get(), conv, user](PgResults results, WatermarkOutcome& out) {
        if (PQntuples(results[0]) != 1) return Unexpected("watermarks");
        const Row row{results[0], 0};
        if (!row.Bool(0)) {
          out.denial = Denial::kForbidden;
          return Status();
        }
        out.delivered = row.Int(1);
        out.read = row.Int(2);
        out.delivered_moved = row.Bool(3);
        out.read_moved = row.Bool(4);
        // Before the receipt goes out: a replica read after it must show it.
        if (replica != nullptr) replica->NoteWatermarks(conv, user, out.delivered, out.read);
        return Status();
      },
      std::move(reply));
}

void PgChatStore::ReadRange(int64_t conv, int64_t after, uint32_t limit,
                            Reply<std::vector<Message>> reply) {
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead,
         {Query("read_range", {Int(conv), Int(after), Int(limit)})},
         RowsInto([](const Row& row) { return row.ReadMessage(0); }), std::move(reply));
}

void PgChatStore::LastSeqs(std::vector<int64_t> convs,
                           Reply<std::vector<std::pair<int64_t, int64_t>>> reply) {
  PgQuery query{.statement = "last_seqs", .values = {pg::Int8ArrayBinary(convs)}, .binary = {true}};
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead, {std::move(query)},
         RowsInto([](const Row& row) {
           return std::pair{row.Int(0), row.Int(1)};
         }),
         std::move(reply));
}

std::span<const PgStatement> PgHistoryStatements() { return kHistoryStatements; }

}  // namespace ringcast::storage
