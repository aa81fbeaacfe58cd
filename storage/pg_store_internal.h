// Helpers shared by the files that implement PgChatStore's operations (pg_chat_store.cc,
// pg_append.cc, pg_conversation_store.cc, pg_history.cc, pg_notify_store.cc, pg_push_store.cc,
// ...): reading rows, one-shot operations (Op) and lanes. Internal to the PostgreSQL backend.
#pragma once

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/mentions.h"
#include "storage/pg_chat_store.h"

namespace ringcast::storage::pg_internal {

// Denial's numbers are part of the SQL functions' contract (pg_migrations/).
static_assert(static_cast<int>(Denial::kNotFound) == 1 &&
              static_cast<int>(Denial::kForbidden) == 2 &&
              static_cast<int>(Denial::kNotGroup) == 3 &&
              static_cast<int>(Denial::kUnknownUser) == 4 &&
              static_cast<int>(Denial::kTooLarge) == 6);

// Columns of a message row (kPgMessageColumnCount), in the order Row::ReadMessage expects, for
// the statements of every pg_*.cc that reads messages; the mentioned members through the mentions
// table's index by message (schema v8).
#define RC_MESSAGE_COLUMNS                                                                        \
  "m.id, m.conversation_id, m.seq, m.sender_id, m.kind, m.body, m.sent_at, m.attachments, "       \
  "(SELECT array_agg(mt.user_id ORDER BY mt.user_id) FROM mentions mt "                           \
  "WHERE mt.message_id = m.id) AS mentioned, m.target, m.edited_at, m.deleted_at, m.deleted_by, " \
  "m.reaction_on, (SELECT string_agg(r.emoji || chr(31) || r.user_id, chr(30) "                   \
  "ORDER BY r.emoji, r.user_id) FROM reactions r WHERE r.conversation_id = m.conversation_id "    \
  "AND r.seq = m.seq) AS reacted, m.pinned_at, m.pinned_by, m.reply_to, "                         \
  "(SELECT p.sender_id || chr(31) || CASE WHEN p.deleted_at IS NULL THEN 'f' ELSE 't' END "       \
  "|| chr(31) || "                                                                                \
  "substr(p.body, 1, 100) FROM messages p WHERE p.conversation_id = m.conversation_id "           \
  "AND p.seq = m.reply_to) AS quote, m.thread_root, m.reply_count, m.last_reply_seq, "            \
  "m.last_reply_at"
inline constexpr int kPgMessageColumnCount = 23;

// Reading a row (text format).
struct Row {
  const PGresult* result;
  int row;
  bool Null(int column) const { return PQgetisnull(result, row, column) != 0; }
  std::string_view View(int column) const {
    return {PQgetvalue(result, row, column), static_cast<size_t>(PQgetlength(result, row, column))};
  }
  std::string Text(int column) const { return std::string(View(column)); }
  int64_t Int(int column) const {
    int64_t value = 0;
    std::string_view text = View(column);
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
  }
  bool Bool(int column) const { return View(column) == "t"; }
  std::vector<int64_t> Ints(int column) const {
    std::vector<int64_t> values;
    if (!Null(column)) pg::ParseInt8Array(View(column), values);
    return values;
  }
  // A text[] of plain words (no quoting, commas or braces inside: roles).
  std::vector<std::string> Words(int column) const {
    std::vector<std::string> values;
    if (Null(column)) return values;
    std::string_view text = View(column);
    if (text.size() < 2) return values;
    text = text.substr(1, text.size() - 2);
    while (!text.empty()) {
      const size_t comma = std::min(text.find(','), text.size());
      values.emplace_back(text.substr(0, comma));
      text.remove_prefix(std::min(comma + 1, text.size()));
    }
    return values;
  }
  // The kPgMessageColumnCount columns of RC_MESSAGE_COLUMNS from `first` on.
  Message ReadMessage(int first) const {
    return Message{.id = Int(first),
                   .conv = Int(first + 1),
                   .seq = Int(first + 2),
                   .from = Int(first + 3),
                   .kind = Text(first + 4),
                   .body = Text(first + 5),
                   .ts = Int(first + 6),
                   .mentions = Ints(first + 8),
                   .attachments = Text(first + 7),
                   // NULL reads as 0: not a change, never edited, not deleted.
                   .target = Int(first + 9),
                   .edited_at = Int(first + 10),
                   .deleted_at = Int(first + 11),
                   .deleted_by = Int(first + 12),
                   .reaction_on = Null(first + 13)   ? -1
                                  : Bool(first + 13) ? 1
                                                     : 0,
                   .reactions = ParseReactions(View(first + 14)),
                   .pinned_at = Int(first + 15),
                   .pinned_by = Int(first + 16),
                   .reply_to = Int(first + 17),
                   .quote = ParseQuote(View(first + 18)),
                   .thread_root = Int(first + 19),
                   .reply_count = Int(first + 20),
                   .last_reply_seq = Int(first + 21),
                   .last_reply_at = Int(first + 22)};
  }
};

template <typename Each>
void ForEachRow(const PGresult* result, Each each) {
  const int rows = PQntuples(result);
  for (int row = 0; row < rows; ++row) each(Row{result, row});
}

// The rows of a page (a message row each, LIMIT count + 1) into `messages`: a message is taken
// while any of the byte budget is left (PageLimit); more: a row was left.
inline void ReadPageRows(const PGresult* rows, PageLimit limit, std::vector<Message>& messages,
                         bool& more) {
  uint64_t bytes_left = limit.bytes;
  ForEachRow(rows, [&](const Row& row) {
    if (more) return;
    if (messages.size() == limit.count || bytes_left == 0) {
      more = true;
      return;
    }
    messages.push_back(row.ReadMessage(0));
    bytes_left -= std::min(bytes_left, PageBytes(messages.back()));
  });
}

inline std::string Int(int64_t value) { return std::to_string(value); }

inline int64_t Clamp(uint64_t value) {
  return static_cast<int64_t>(std::min<uint64_t>(value, std::numeric_limits<int64_t>::max()));
}

inline PgQuery Query(const char* statement, std::vector<std::string> values) {
  return PgQuery{.statement = statement, .values = std::move(values)};
}

// Conversation state columns from `first` (rc_state, schema v16): name, is_group, last_seq,
// members, delivered, reads, topic, roles, avatar (all NULL when there is no such conversation).
inline void ReadState(const Row& row, int first, int64_t conv, ConversationState& state) {
  state = ConversationState{};
  state.id = conv;
  if (row.Null(first + 2)) {
    state.denial = Denial::kNotFound;
    return;
  }
  if (!row.Null(first)) state.name = row.Text(first);
  state.group = row.Bool(first + 1);
  state.last_seq = row.Int(first + 2);
  const std::vector<int64_t> members = row.Ints(first + 3);
  const std::vector<int64_t> delivered = row.Ints(first + 4);
  const std::vector<int64_t> reads = row.Ints(first + 5);
  if (!row.Null(first + 6)) state.topic = row.Text(first + 6);
  const std::vector<std::string> roles = row.Words(first + 7);
  if (!row.Null(first + 8)) state.avatar = row.Text(first + 8);
  for (size_t i = 0;
       i < members.size() && i < delivered.size() && i < reads.size() && i < roles.size(); ++i) {
    state.members.push_back({members[i], delivered[i], reads[i], roles[i]});
  }
}

inline Status Unexpected(const char* what) {
  return Status(Errc::kInternal, std::string("unexpected result shape: ") + what);
}

enum class Kind : uint8_t {
  kRead,            // Retry-safe; several statements read one snapshot.
  kWrite,           // Not retried after a connection loss: its outcome would be unknown.
  kIdempotentWrite  // Retried: running it twice leaves what running it once does.
};

template <typename T>
class Op final : public PgJob {
 public:
  using Consumer = UniqueFunction<Status(PgResults, T&)>;
  Op(Kind kind, std::vector<PgQuery> queries, Consumer consume, Reply<T> reply)
      : kind_(kind),
        queries_(std::move(queries)),
        consume_(std::move(consume)),
        reply_(std::move(reply)) {}

  void BuildQueries(std::vector<PgQuery>& queries) override { queries = queries_; }
  bool transaction() const override { return queries_.size() > 1; }
  bool read_only() const override { return kind_ == Kind::kRead; }
  bool retry_safe() const override { return kind_ != Kind::kWrite; }
  Status Consume(PgResults results) override {
    if (results.size() != queries_.size()) return Unexpected("result count");
    out_ = T{};
    return consume_(results, out_);
  }
  void Finish(Status status) override {
    if (status.ok()) {
      reply_(Result<T>(std::move(out_)));
    } else {
      reply_(Result<T>(std::move(status)));
    }
  }

 private:
  const Kind kind_;
  std::vector<PgQuery> queries_;
  Consumer consume_;
  Reply<T> reply_;
  T out_{};
};

template <typename T, typename Consume>
void Submit(PgPipeline& pipeline, uint32_t lane, Kind kind, std::vector<PgQuery> queries,
            Consume consume, Reply<T> reply) {
  pipeline.Submit(lane, std::make_unique<Op<T>>(kind, std::move(queries),
                                                typename Op<T>::Consumer(std::move(consume)),
                                                std::move(reply)));
}

// A read on the replica (ReadReplicaFirst): answered there when `fresh(results)` says the
// answer is new enough, else (stale, or the replica failed) run again as an Op on the primary.
template <typename T>
class ReplicaRead final : public PgJob {
 public:
  using Consumer = typename Op<T>::Consumer;
  ReplicaRead(PgReplica& replica, PgPipeline& primary, std::vector<PgQuery> queries,
              UniqueFunction<bool(PgResults)> fresh, Consumer consume, Reply<T> reply)
      : replica_(replica),
        primary_(primary),
        queries_(std::move(queries)),
        fresh_(std::move(fresh)),
        consume_(std::move(consume)),
        reply_(std::move(reply)) {}

  void BuildQueries(std::vector<PgQuery>& queries) override { queries = queries_; }
  bool transaction() const override { return queries_.size() > 1; }
  bool read_only() const override { return true; }
  bool retry_safe() const override { return true; }
  Status Consume(PgResults results) override {
    if (results.size() != queries_.size()) return Unexpected("result count");
    stale_ = !fresh_(results);
    if (stale_) return Status();
    out_ = T{};
    return consume_(results, out_);
  }
  void Finish(Status status) override {
    if (status.ok() && !stale_) {
      replica_.reads.fetch_add(1, std::memory_order_relaxed);
      return reply_(Result<T>(std::move(out_)));
    }
    (stale_ ? replica_.fallback_stale : replica_.fallback_error)
        .fetch_add(1, std::memory_order_relaxed);
    primary_.Submit(PgPipeline::kReaders,
                    std::make_unique<Op<T>>(Kind::kRead, std::move(queries_), std::move(consume_),
                                            std::move(reply_)));
  }

 private:
  PgReplica& replica_;
  PgPipeline& primary_;
  std::vector<PgQuery> queries_;
  UniqueFunction<bool(PgResults)> fresh_;
  Consumer consume_;
  Reply<T> reply_;
  T out_{};
  bool stale_ = false;
};

// A read the replica may answer (`replica` null: none), with `fresh(results)` saying whether its
// answer is new enough; else, and always without a replica, while it is unusable or when it
// cannot be trusted with a read that does not name what its client has seen (`names_seen`:
// PgReplica::Trusts), the primary's readers.
template <typename T, typename Fresh, typename Consume>
void ReadReplicaFirst(PgPipeline& primary, PgReplica* replica, bool names_seen,
                      std::vector<PgQuery> queries, Fresh fresh, Consume consume, Reply<T> reply) {
  if (replica != nullptr && !replica->Trusts(names_seen)) {
    replica->fallback_unnamed.fetch_add(1, std::memory_order_relaxed);
    replica = nullptr;
  } else if (replica != nullptr && !replica->Usable()) {
    replica->fallback_unusable.fetch_add(1, std::memory_order_relaxed);
    replica = nullptr;
  }
  if (replica == nullptr) {
    return Submit(primary, PgPipeline::kReaders, Kind::kRead, std::move(queries),
                  std::move(consume), std::move(reply));
  }
  replica->Submit(std::make_unique<ReplicaRead<T>>(
      *replica, primary, std::move(queries), UniqueFunction<bool(PgResults)>(std::move(fresh)),
      typename Op<T>::Consumer(std::move(consume)), std::move(reply)));
}

// Consumers for Submit's most common answers.

// A write whose only answer is that it ran.
inline Status Done(PgResults, bool& out) {
  out = true;
  return Status();
}

// Whether the first query answered a row: an UPDATE/DELETE ... RETURNING that matched, or a
// read of whether something exists.
inline Status AnyRow(PgResults results, bool& out) {
  out = PQntuples(results[0]) > 0;
  return Status();
}

// Each row of the first query as `read_row(row)`: appended to `out` when it is a vector,
// otherwise assigned to it (the last row wins; no row leaves it empty).
template <typename ReadRow>
auto RowsInto(ReadRow read_row) {
  return [read_row = std::move(read_row)]<typename T>(PgResults results, T& out) {
    ForEachRow(results[0], [&](const Row& row) {
      if constexpr (requires { out.push_back(read_row(row)); }) {
        out.push_back(read_row(row));
      } else {
        out = read_row(row);
      }
    });
    return Status();
  };
}

// The pipeline's batcher (PgPipelineOptions::batcher): the append jobs a lane has queued, as one
// job that stores them all in one statement (pg_append.cc).
std::unique_ptr<PgJob> MakeAppendBatch(std::vector<std::unique_ptr<PgJob>> jobs);

inline uint32_t LaneOf(int64_t id) {
  return static_cast<uint32_t>(static_cast<uint64_t>(id) % 65521);
}

// The append_mentions query (pg_schema.cc) for the jobs of an append batch, or nullopt when no
// message of the batch may mention anyone. `message_of(job)` is the job's NewMessage.
template <typename Job, typename MessageOf>
std::optional<PgQuery> AppendMentionsQuery(std::span<Job* const> jobs, MessageOf message_of) {
  std::vector<int64_t> senders, targets;
  std::vector<std::string> cids, names;
  for (Job* job : jobs) {
    const NewMessage& message = *message_of(job);
    if (!MayMention(message)) continue;
    for (int64_t user : message.mentions) {
      senders.push_back(message.sender);
      cids.push_back(message.cid);
      targets.push_back(user);
      names.emplace_back();
    }
    if (message.kind != "text") continue;
    for (std::string& name : MentionedNames(message.body)) {
      senders.push_back(message.sender);
      cids.push_back(message.cid);
      targets.push_back(0);
      names.push_back(std::move(name));
    }
  }
  if (senders.empty()) return std::nullopt;
  std::vector<const std::string*> cid_refs, name_refs;
  for (const std::string& cid : cids) cid_refs.push_back(&cid);
  for (const std::string& name : names) name_refs.push_back(&name);
  return PgQuery{.statement = "append_mentions",
                 .values = {pg::Int8ArrayBinary(senders), pg::TextArrayBinary(cid_refs),
                            pg::Int8ArrayBinary(targets), pg::TextArrayBinary(name_refs)},
                 .binary = std::vector<bool>(4, true)};
}

// append_mentions' rows (user_id, message_id) into the stored messages' `mentions` (sorted).
template <typename Job, typename StoredOf>
void ReadAppendedMentions(const PGresult* rows, std::span<Job* const> jobs, StoredOf stored_of) {
  for (Job* job : jobs) {
    Message& stored = *stored_of(job);
    if (stored.id == 0) continue;
    for (int r = 0; r < PQntuples(rows); ++r) {
      const Row row{rows, r};
      if (row.Int(1) == stored.id) stored.mentions.push_back(row.Int(0));
    }
    std::sort(stored.mentions.begin(), stored.mentions.end());
  }
}

}  // namespace ringcast::storage::pg_internal
