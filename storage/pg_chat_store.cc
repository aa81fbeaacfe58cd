#include "storage/pg_chat_store.h"

#include <arpa/inet.h>
#include <endian.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <limits>

#include "storage/mentions.h"
#include "storage/message_kinds.h"
#include "storage/pg_schema.h"
#include "storage/pg_store_internal.h"
#include "storage/store_metrics.h"

namespace ringcast::storage {

namespace pg {
namespace {

void PutU32(std::string& out, uint32_t value) {
  value = htonl(value);
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

constexpr uint32_t kInt8Oid = 20;
constexpr uint32_t kTextOid = 25;

// PostgreSQL's binary array: ndim, has-null flag, element type, then (size, lower bound) per
// dimension, then each element as a length and its bytes.
void PutArrayHeader(std::string& out, uint32_t oid, size_t count) {
  PutU32(out, count == 0 ? 0 : 1);
  PutU32(out, 0);
  PutU32(out, oid);
  if (count == 0) return;
  PutU32(out, static_cast<uint32_t>(count));
  PutU32(out, 1);
}

}  // namespace

std::string Int8ArrayBinary(std::span<const int64_t> values) {
  std::string out;
  out.reserve(20 + values.size() * 12);
  PutArrayHeader(out, kInt8Oid, values.size());
  for (int64_t value : values) {
    PutU32(out, 8);
    const uint64_t big = htobe64(static_cast<uint64_t>(value));
    out.append(reinterpret_cast<const char*>(&big), sizeof big);
  }
  return out;
}

std::string TextArrayBinary(std::span<const std::string* const> values) {
  size_t bytes = 20;
  for (const std::string* value : values) bytes += 4 + value->size();
  std::string out;
  out.reserve(bytes);
  PutArrayHeader(out, kTextOid, values.size());
  for (const std::string* value : values) {
    PutU32(out, static_cast<uint32_t>(value->size()));
    out.append(*value);
  }
  return out;
}

bool ParseInt8Array(std::string_view text, std::vector<int64_t>& out) {
  out.clear();
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') return false;
  text = text.substr(1, text.size() - 2);
  while (!text.empty()) {
    int64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc()) return false;
    out.push_back(value);
    text.remove_prefix(static_cast<size_t>(end - text.data()));
    if (text.empty()) break;
    if (text.front() != ',') return false;
    text.remove_prefix(1);
  }
  return true;
}

}  // namespace pg

namespace {

using namespace pg_internal;  // NOLINT: the backend's shared helpers (pg_store_internal.h).

// ---- Message appends: batched into one statement per transaction on their lane.

class AppendJob final : public PgJob {
 public:
  AppendJob(NewMessage message, Reply<AppendOutcome> reply)
      : message(std::move(message)), reply(std::move(reply)) {
    batchable = true;
  }
  void BuildQueries(std::vector<PgQuery>& queries) override;
  bool transaction() const override { return true; }
  // Idempotent by (sender, cid): a retry of a batch that committed finds its messages stored.
  bool retry_safe() const override { return true; }
  Status Consume(PgResults results) override;
  void Finish(Status status) override {
    if (status.ok()) {
      reply(Result<AppendOutcome>(std::move(out)));
    } else {
      reply(Result<AppendOutcome>(std::move(status)));
    }
  }

  NewMessage message;
  Reply<AppendOutcome> reply;
  AppendOutcome out;
};

void BuildAppendQueries(std::span<AppendJob* const> jobs, std::vector<PgQuery>& queries) {
  std::vector<int64_t> convs, senders, times, reply_tos, threads;
  std::vector<const std::string*> cids, kinds, bodies, attachments;
  // The attachment rows (sender, cid, position, upload), for append_attachments.
  std::vector<int64_t> attach_senders, attach_positions;
  std::vector<const std::string*> attach_cids, attach_uploads;
  for (const AppendJob* job : jobs) {
    convs.push_back(job->message.conv);
    senders.push_back(job->message.sender);
    times.push_back(job->message.ts);
    reply_tos.push_back(job->message.reply_to);
    threads.push_back(job->message.thread ? 1 : 0);
    cids.push_back(&job->message.cid);
    kinds.push_back(&job->message.kind);
    bodies.push_back(&job->message.body);
    attachments.push_back(&job->message.attachments);
    for (size_t i = 0; i < job->message.attachment_ids.size(); ++i) {
      attach_senders.push_back(job->message.sender);
      attach_cids.push_back(&job->message.cid);
      attach_positions.push_back(static_cast<int64_t>(i));
      attach_uploads.push_back(&job->message.attachment_ids[i]);
    }
  }
  std::vector<int64_t> locked = convs;
  std::sort(locked.begin(), locked.end());
  locked.erase(std::unique(locked.begin(), locked.end()), locked.end());
  queries.clear();
  queries.push_back(PgQuery{.statement = "lock_conversations",
                            .values = {pg::Int8ArrayBinary(locked)},
                            .binary = {true}});
  queries.push_back(PgQuery{
      .statement = "append_batch",
      .values = {pg::Int8ArrayBinary(convs), pg::Int8ArrayBinary(senders),
                 pg::TextArrayBinary(cids), pg::TextArrayBinary(kinds), pg::TextArrayBinary(bodies),
                 pg::Int8ArrayBinary(times), pg::TextArrayBinary(attachments),
                 pg::Int8ArrayBinary(reply_tos), pg::Int8ArrayBinary(threads)},
      .binary = std::vector<bool>(9, true)});
  if (std::optional<PgQuery> mentions =
          AppendMentionsQuery(jobs, [](const AppendJob* job) { return &job->message; })) {
    queries.push_back(std::move(*mentions));
  }
  if (attach_senders.empty()) return;
  queries.push_back(PgQuery{
      .statement = "append_attachments",
      .values = {pg::Int8ArrayBinary(attach_senders), pg::TextArrayBinary(attach_cids),
                 pg::Int8ArrayBinary(attach_positions), pg::TextArrayBinary(attach_uploads)},
      .binary = std::vector<bool>(4, true)});
}

Status ConsumeAppendRows(std::span<AppendJob* const> jobs, PgResults results) {
  // Further results: append_mentions' (when the batch may mention), then append_attachments'
  // (when it carries files; no rows).
  bool files = false;
  for (const AppendJob* job : jobs) files |= !job->message.attachment_ids.empty();
  const size_t extra = results.size() < 2 ? 9 : results.size() - 2;
  if (extra > 2 || (files && extra == 0)) return Unexpected("append result count");
  const bool mentions = extra == (files ? 2u : 1u);
  const PGresult* rows = results[1];
  if (PQntuples(rows) != static_cast<int>(jobs.size()) || PQnfields(rows) != 12) {
    return Unexpected("append rows");
  }
  for (AppendJob* job : jobs) job->out = AppendOutcome{};
  std::vector<std::pair<size_t, size_t>> repeats;  // (row's job, its first's job).
  for (int r = 0; r < PQntuples(rows); ++r) {
    const Row row{rows, r};
    const int64_t ord = row.Int(0), first = row.Int(8);
    if (ord < 1 || ord > static_cast<int64_t>(jobs.size()) || first < 1 || first > ord) {
      return Unexpected("append ord");
    }
    AppendJob& job = *jobs[static_cast<size_t>(ord - 1)];
    const NewMessage& in = job.message;
    AppendOutcome& out = job.out;
    switch (row.View(1).empty() ? 'f' : row.View(1)[0]) {
      case 'i':
        out.message = in.Stored(row.Int(2), row.Int(3));
        out.message.quote = ParseQuote(row.View(11));
        out.message.thread_root = row.Int(10);
        if (out.message.quote) out.message.reply_to = in.reply_to;
        break;
      case 'n':
        out.denial = Denial::kNotFound;  // A reply to no ordinary message of the conversation.
        break;
      case 'd':
        out.duplicate = true;
        out.message = Message{.id = row.Int(2),
                              .conv = row.Int(4),
                              .seq = row.Int(3),
                              .from = in.sender,
                              .kind = row.Text(5),
                              .body = row.Text(6),
                              .ts = row.Int(7),
                              .attachments = row.Text(9)};
        break;
      case 'b':
        repeats.emplace_back(static_cast<size_t>(ord - 1), static_cast<size_t>(first - 1));
        break;
      default:
        out.denial = Denial::kForbidden;
        break;
    }
  }
  if (mentions) {
    ReadAppendedMentions(results[2], jobs, [](AppendJob* job) { return &job->out.message; });
  }
  // The same cid again in this batch: whatever became of the first, this is its repeat.
  for (auto [repeat, first] : repeats) {
    AppendOutcome& out = jobs[repeat]->out;
    out = jobs[first]->out;
    out.duplicate = out.denial == Denial::kNone;
  }
  return Status();
}

void AppendJob::BuildQueries(std::vector<PgQuery>& queries) {
  AppendJob* self = this;
  BuildAppendQueries({&self, 1}, queries);
}

Status AppendJob::Consume(PgResults results) {
  AppendJob* self = this;
  return ConsumeAppendRows({&self, 1}, results);
}

class AppendBatch final : public PgJob {
 public:
  explicit AppendBatch(std::vector<std::unique_ptr<PgJob>> jobs) {
    members_.reserve(jobs.size());
    for (auto& job : jobs) members_.push_back(static_cast<AppendJob*>(job.release()));
    deadline = members_.front()->deadline;
  }
  ~AppendBatch() override {
    for (AppendJob* job : members_) delete job;
  }
  void BuildQueries(std::vector<PgQuery>& queries) override {
    BuildAppendQueries(members_, queries);
  }
  bool transaction() const override { return true; }
  bool retry_safe() const override { return true; }
  Status Consume(PgResults results) override { return ConsumeAppendRows(members_, results); }
  void Finish(Status status) override {
    for (AppendJob* job : members_) job->Finish(status);
  }
  std::vector<std::unique_ptr<PgJob>> Split() override {
    std::vector<std::unique_ptr<PgJob>> jobs;
    if (members_.size() < 2) return jobs;
    for (AppendJob* job : members_) jobs.emplace_back(job);
    members_.clear();
    return jobs;
  }

 private:
  std::vector<AppendJob*> members_;  // Owned (raw, to be a span of AppendJob*).
};

std::unique_ptr<PgJob> MakeAppendBatch(std::vector<std::unique_ptr<PgJob>> jobs) {
  return std::make_unique<AppendBatch>(std::move(jobs));
}

// The password in a connection string, to keep it out of every message we print.
std::string PasswordOf(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (error) PQfreemem(error);
  std::string password;
  for (PQconninfoOption* option = options; option && option->keyword; ++option) {
    if (std::strcmp(option->keyword, "password") == 0 && option->val) password = option->val;
  }
  if (options) PQconninfoFree(options);
  return password;
}

std::string Scrub(std::string text, const std::string& password) {
  if (password.empty()) return text;
  for (size_t at = text.find(password); at != std::string::npos; at = text.find(password, at)) {
    text.replace(at, password.size(), "***");
  }
  return text;
}

}  // namespace

Result<std::unique_ptr<PgChatStore>> PgChatStore::Open(const PgStoreOptions& options) {
  const std::string password = PasswordOf(options.conninfo);
  const std::string where = RedactConninfo(options.conninfo);
  auto fail = [&](Errc errc, const std::string& what) {
    return Status(errc, Scrub("PostgreSQL at " + where + ": " + what, password));
  };
  PGconn* conn = PgConnect(options.conninfo, /*blocking=*/true);
  struct Closer {
    PGconn* conn;
    ~Closer() { PQfinish(conn); }
  } closer{conn};
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    std::string why = conn ? PQerrorMessage(conn) : "out of memory";
    if (auto end = why.find('\n'); end != std::string::npos) why.resize(end);
    return fail(Errc::kUnavailable, "cannot connect: " + why);
  }
  if (const char* standby = PQparameterStatus(conn, "in_hot_standby");
      standby != nullptr && std::strcmp(standby, "on") == 0) {
    return fail(Errc::kReadOnly,
                "the server is a standby (in recovery): name the primary, or list every host "
                "with target_session_attrs=read-write");
  }
  if (Status s = MigratePg(conn); !s.ok()) return fail(s.errc(), s.message());
  PGresult* check = PQexec(
      conn,
      "SELECT bool_and(has_table_privilege(t, 'SELECT, INSERT, UPDATE, DELETE')) "
      "AND (SELECT bool_and(has_sequence_privilege(pg_get_serial_sequence(s, 'id'), 'USAGE')) "
      "     FROM unnest(ARRAY['users', 'conversations', 'messages']) s) "
      "FROM unnest(ARRAY['users', 'conversations', 'users_conversations', 'messages', "
      "'revoked_tokens', 'server_settings', 'refresh_tokens']) t");
  const bool granted = PQresultStatus(check) == PGRES_TUPLES_OK && PQntuples(check) == 1 &&
                       PQgetvalue(check, 0, 0)[0] == 't';
  PQclear(check);
  if (!granted) {
    return fail(Errc::kReadOnly,
                "the role lacks SELECT, INSERT, UPDATE, DELETE on ringcast's tables or USAGE on "
                "their sequences (README: PostgreSQL)");
  }

  std::string shared_secret;
  if (!options.secret_candidate.empty()) {
    // The first node to get here decides; every later one reads its choice.
    const char* values[] = {options.secret_candidate.c_str()};
    PGresult* kept = PQexecParams(
        conn,
        "WITH added AS (INSERT INTO server_settings (name, value) VALUES ('jwt_secret', $1) "
        "ON CONFLICT (name) DO NOTHING RETURNING value) "
        "SELECT value FROM added UNION ALL "
        "SELECT value FROM server_settings WHERE name = 'jwt_secret'",
        1, nullptr, values, nullptr, nullptr, 0);
    const bool read = PQresultStatus(kept) == PGRES_TUPLES_OK && PQntuples(kept) >= 1;
    if (read) shared_secret = PQgetvalue(kept, 0, 0);
    std::string why = read ? "" : PQresultErrorMessage(kept);
    PQclear(kept);
    if (!read) return fail(Errc::kIo, "cannot keep the signing secret: " + FirstLine(why.c_str()));
  }

  std::string shared_vapid_key;
  if (!options.vapid_key_candidate.empty()) {
    Status s = KeepSharedSetting(conn, "vapid_key", options.vapid_key_candidate, &shared_vapid_key);
    if (!s.ok()) return fail(s.errc(), s.message());
  }

  PgPipelineOptions pipeline_options{.conninfo = options.conninfo,
                                     .writers = options.writers,
                                     .readers = options.readers,
                                     .batch_max = options.batch_max,
                                     .batch_delay_us = options.batch_delay_us,
                                     .timeout = options.timeout,
                                     .max_queued = options.max_queued,
                                     .max_wait_ms = options.max_wait_ms,
                                     .synchronous_commit = options.synchronous_commit,
                                     .prepared_statements = options.prepared_statements,
                                     .batcher = &MakeAppendBatch,
                                     .log = options.log};
  auto pipeline = PgPipeline::Start(std::move(pipeline_options), PgPreparedStatements());
  if (!pipeline.ok()) return fail(pipeline.status().errc(), pipeline.status().message());
  auto store = std::unique_ptr<PgChatStore>(new PgChatStore(std::move(*pipeline)));
  if (!options.read_conninfo.empty()) {
    auto replica = PgReplica::Start({.conninfo = options.read_conninfo,
                                     .readers = options.readers,
                                     .timeout = options.timeout,
                                     .max_lag = options.replica_max_lag,
                                     .prepared_statements = options.prepared_statements,
                                     .sole_writer = options.sole_writer,
                                     .log = options.log},
                                    PgPreparedStatements());
    if (!replica.ok()) {
      return Status(replica.status().errc(),
                    Scrub("PostgreSQL read replica at " + RedactConninfo(options.read_conninfo) +
                              ": " + replica.status().message(),
                          PasswordOf(options.read_conninfo)));
    }
    store->replica_ = std::move(*replica);
  }
  store->shared_secret_ = std::move(shared_secret);
  store->shared_vapid_key_ = std::move(shared_vapid_key);
  return store;
}

PgChatStore::~PgChatStore() { Stop(std::chrono::milliseconds::max()); }

void PgChatStore::CreateUser(std::string username, std::string password_hash, int64_t now,
                             Reply<std::pair<Denial, int64_t>> reply) {
  Submit(
      *pipeline_, 0, Kind::kWrite,
      {Query("create_user", {std::move(username), std::move(password_hash), Int(now)})},
      [](PgResults results, std::pair<Denial, int64_t>& out) {
        out = {Denial::kTaken, 0};
        ForEachRow(results[0], [&](const Row& row) { out = {Denial::kNone, row.Int(0)}; });
        return Status();
      },
      std::move(reply));
}

void PgChatStore::FindLogin(std::string username, Reply<std::optional<UserLogin>> reply) {
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead,
         {Query("find_login", {std::move(username)})}, RowsInto([](const Row& row) {
           return UserLogin{row.Int(0), row.Text(1), row.Int(2)};
         }),
         std::move(reply));
}

void PgChatStore::RevokeToken(std::string jti, int64_t expires_at_ms, Reply<bool> reply) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  Submit(*pipeline_, 0, Kind::kIdempotentWrite,
         {Query("revoke_token", {std::move(jti), Int(expires_at_ms), Int(now)})}, Done,
         std::move(reply));
}

void PgChatStore::LoadRevoked(int64_t now, Reply<std::vector<RevokedToken>> reply) {
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead, {Query("load_revoked", {Int(now)})},
         RowsInto([](const Row& row) {
           return RevokedToken{row.Text(0), row.Int(1)};
         }),
         std::move(reply));
}

void PgChatStore::SetLastOnline(int64_t user, int64_t ts, Reply<bool> reply) {
  Submit(*pipeline_, LaneOf(user), Kind::kIdempotentWrite,
         {Query("set_last_online", {Int(user), Int(ts)})}, Done, std::move(reply));
}

namespace {

// search_users and find_users answer the same columns: id, username.
UserMatch ReadUserMatch(const Row& row) { return UserMatch{row.Int(0), row.Text(1)}; }

}  // namespace

void PgChatStore::SearchUsers(std::string prefix, uint32_t limit,
                              Reply<std::vector<UserMatch>> reply) {
  std::optional<UsernameRange> range = UsernamePrefixRange(prefix);
  if (!range) range = UsernameRange{"\x7f", "\x7f"};  // An empty range: the same no-match reply.
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead,
         {Query("search_users", {std::move(range->low), std::move(range->high), Int(limit)})},
         RowsInto(ReadUserMatch), std::move(reply));
}

namespace {

std::string Int8Array(const std::vector<int64_t>& values) { return pg::Int8ArrayBinary(values); }

}  // namespace

void PgChatStore::FindUsers(std::vector<int64_t> ids, Reply<std::vector<UserMatch>> reply) {
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead,
         {PgQuery{.statement = "find_users", .values = {Int8Array(ids)}, .binary = {true}}},
         RowsInto(ReadUserMatch), std::move(reply));
}

namespace {

// denial, changed-or-created, conversation id, the state's columns (9), then the system
// entry's id, seq and body (NULL: none); `actor` wrote the entry, at `now`.
constexpr int kMembershipColumns = 15;
template <typename Outcome>
Status ReadMembershipRow(PgResults results, Outcome& out, bool& flag) {
  if (PQntuples(results[0]) != 1 || PQnfields(results[0]) != kMembershipColumns) {
    return Unexpected("membership");
  }
  const Row row{results[0], 0};
  out.denial = static_cast<Denial>(row.Int(0));
  flag = row.Bool(1);
  ReadState(row, 3, row.Int(2), out.conversation);
  return Status();
}

Status ReadChangeRow(PgResults results, int64_t actor, int64_t now, MembershipOutcome& out) {
  if (Status s = ReadMembershipRow(results, out, out.changed); !s.ok()) return s;
  const Row row{results[0], 0};
  if (!row.Null(kMembershipColumns - 3)) {
    out.system.push_back(Message{.id = row.Int(kMembershipColumns - 3),
                                 .conv = out.conversation.id,
                                 .seq = row.Int(kMembershipColumns - 2),
                                 .from = actor,
                                 .kind = std::string(kSystemKind),
                                 .body = row.Text(kMembershipColumns - 1),
                                 .ts = now});
  }
  return Status();
}

}  // namespace

void PgChatStore::CreateConversation(int64_t creator, std::vector<int64_t> members,
                                     std::optional<std::string> name, bool group, int64_t now,
                                     Reply<CreateConversationOutcome> reply) {
  PgQuery query{
      .statement = "create_conversation",
      .values = {Int(creator), Int8Array(members), name.value_or(""), group ? "t" : "f", Int(now)},
      .nulls = {false, false, !name.has_value(), false, false},
      .binary = {false, true, false, false, false}};
  NoteChanged({creator}, members);
  Submit(
      *pipeline_, LaneOf(creator), Kind::kWrite, {std::move(query)},
      [](PgResults results, CreateConversationOutcome& out) {
        return ReadMembershipRow(results, out, out.created);
      },
      std::move(reply));
}

void PgChatStore::AddMembers(int64_t conv, int64_t caller, std::vector<int64_t> users,
                             uint32_t max_members, int64_t now, Reply<MembershipOutcome> reply) {
  PgQuery query{.statement = "add_members",
                .values = {Int(conv), Int(caller), Int8Array(users), Int(max_members), Int(now)},
                .binary = {false, false, true, false, false}};
  NoteChanged({conv, caller}, users);
  Submit(
      *pipeline_, LaneOf(conv), Kind::kWrite, {std::move(query)},
      [caller, now](PgResults results, MembershipOutcome& out) {
        return ReadChangeRow(results, caller, now, out);
      },
      std::move(reply));
}

void PgChatStore::RemoveMember(int64_t conv, int64_t caller, int64_t user, int64_t now,
                               Reply<MembershipOutcome> reply) {
  NoteChanged({conv, caller, user});
  Submit(
      *pipeline_, LaneOf(conv), Kind::kWrite,
      {Query("remove_member", {Int(conv), Int(caller), Int(user), Int(now)})},
      [caller, now](PgResults results, MembershipOutcome& out) {
        return ReadChangeRow(results, caller, now, out);
      },
      std::move(reply));
}

void PgChatStore::ChangeGroup(GroupChange change, Reply<MembershipOutcome> reply) {
  const char* op = change.op == GroupChange::Op::kSetRole    ? "role"
                   : change.op == GroupChange::Op::kTransfer ? "transfer"
                                                             : "settings";
  PgQuery query{.statement = "change_group",
                .values = {op, Int(change.conv), Int(change.caller), Int(change.user), change.role,
                           change.name.value_or(""), change.topic.value_or(""),
                           change.avatar.value_or(""), Int(change.now)},
                .nulls = {false, false, false, false, false, !change.name.has_value(),
                          !change.topic.has_value(), !change.avatar.has_value(), false}};
  NoteChanged({change.conv, change.caller, change.user});
  Submit(
      *pipeline_, LaneOf(change.conv), Kind::kWrite, {std::move(query)},
      [caller = change.caller, now = change.now](PgResults results, MembershipOutcome& out) {
        return ReadChangeRow(results, caller, now, out);
      },
      std::move(reply));
}

void PgChatStore::NoteChanged(std::initializer_list<int64_t> ids, std::span<const int64_t> more) {
  if (!replica_) return;
  for (int64_t id : ids) replica_->NoteChanged(id);
  for (int64_t id : more) replica_->NoteChanged(id);
}

void PgChatStore::ListConversations(int64_t user, Reply<std::vector<ConversationSummary>> reply) {
  // Fresh: no membership or group change of this node's may be missing, nor any message it knows.
  auto fresh = [replica = replica_.get(), user](PgResults results) {
    if (replica->ChangedRecently(user)) return false;
    bool fresh = true;
    ForEachRow(results[0], [&](const Row& row) {
      fresh = fresh && !replica->ChangedRecently(row.Int(0)) &&
              row.Int(3) >= replica->KnownSeq(row.Int(0)) &&
              replica->WatermarksFresh(row.Int(0), user, -1, row.Int(4));
    });
    return fresh;
  };
  ReadReplicaFirst(
      *pipeline_, replica_.get(), /*names_seen=*/false, {Query("list_conversations", {Int(user)})},
      std::move(fresh),
      [](PgResults results, std::vector<ConversationSummary>& out) {
        ForEachRow(results[0], [&](const Row& row) {
          ConversationSummary summary;
          summary.id = row.Int(0);
          if (!row.Null(1)) summary.name = row.Text(1);
          summary.group = row.Bool(2);
          summary.last_seq = row.Int(3);
          summary.read_seq = row.Int(4);
          summary.members = row.Ints(5);
          if (!row.Null(6)) summary.last_message = row.ReadMessage(6);
          constexpr int kAfter = 6 + kPgMessageColumnCount;
          if (!row.Null(kAfter)) summary.muted_until = row.Int(kAfter);
          summary.unread_mentions = row.Int(kAfter + 1);
          summary.unread = row.Int(kAfter + 2);
          if (!row.Null(kAfter + 3)) summary.topic = row.Text(kAfter + 3);
          summary.roles = row.Words(kAfter + 4);
          if (!row.Null(kAfter + 5)) summary.avatar = row.Text(kAfter + 5);
          out.push_back(std::move(summary));
        });
        return Status();
      },
      std::move(reply));
}

void PgChatStore::StartSession(int64_t user, Reply<SessionStart> reply) {
  Submit(
      *pipeline_, PgPipeline::kReaders, Kind::kRead,
      {Query("session_conversations", {Int(user)}), Query("session_contacts", {Int(user)})},
      [](PgResults results, SessionStart& out) {
        ForEachRow(results[0], [&](const Row& row) {
          out.conversations.push_back({row.Int(0), row.Int(1), row.Ints(2)});
        });
        ForEachRow(results[1], [&](const Row& row) {
          Contact contact{row.Int(0), std::nullopt};
          if (!row.Null(1)) contact.last_online = row.Int(1);
          out.contacts.push_back(contact);
        });
        return Status();
      },
      std::move(reply));
}

namespace {

// rc_change_message's one-letter refusals (pg_migrations/v11_message_changes.cc); an unknown letter refuses.
Denial ChangeDenial(char outcome) {
  static constexpr std::pair<char, Denial> kDenials[] = {
      {'n', Denial::kNotFound}, {'g', Denial::kGone},    {'a', Denial::kNotAuthor},
      {'w', Denial::kTooLate},  {'r', Denial::kTooMany}, {'p', Denial::kTooManyPins}};
  for (const auto& [letter, denial] : kDenials) {
    if (letter == outcome) return denial;
  }
  return Denial::kForbidden;
}

// A change (edit, delete) is one call of rc_change_message (pg_migrations/v11_message_changes.cc), on the
// conversation's lane as its appends are, so that the replies keep the submission order.
void AppendChange(PgPipeline& pipeline, uint32_t lane, NewMessage message,
                  Reply<AppendOutcome> reply) {
  std::vector<std::string> names = MentionedNames(message.body);
  std::vector<const std::string*> name_refs;
  for (const std::string& name : names) name_refs.push_back(&name);
  PgQuery change{.statement = "change_message",
                 .values = {Int(message.conv), Int(message.sender), message.cid, message.kind,
                            message.body, Int(message.ts), Int(message.target),
                            Int(message.edit_window_ms), pg::Int8ArrayBinary(message.mentions),
                            pg::TextArrayBinary(name_refs), message.reaction_on ? "true" : "false",
                            Int(message.max_reactions), Int(message.max_pins)},
                 .binary = {false, false, false, false, false, false, false, false, true, true,
                            false, false, false}};
  Submit(
      pipeline, lane, Kind::kIdempotentWrite, {std::move(change)},
      [message = std::move(message)](PgResults results, AppendOutcome& out) {
        if (PQntuples(results[0]) != 1) return Unexpected("change rows");
        const Row row{results[0], 0};
        const char outcome = row.View(0).empty() ? 'f' : row.View(0)[0];
        if (outcome != 'i' && outcome != 'd') {
          out.denial = ChangeDenial(outcome);
          return Status();
        }
        out.duplicate = outcome == 'd';
        out.message = Message{.id = row.Int(1),
                              .conv = message.conv,
                              .seq = row.Int(2),
                              .from = message.sender,
                              .kind = row.Text(3),
                              .body = row.Text(4),
                              .ts = row.Int(5),
                              .mentions = row.Ints(6),
                              .target = message.target};
        if (out.message.kind == kReactionKind) out.message.reaction_on = message.reaction_on;
        return Status();
      },
      std::move(reply));
}

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

}  // namespace

void PgChatStore::Append(NewMessage message, Reply<AppendOutcome> reply) {
  const uint32_t lane = LaneOf(message.conv);
  if (message.target != 0)
    return AppendChange(*pipeline_, lane, std::move(message), std::move(reply));
  pipeline_->Submit(lane, std::make_unique<AppendJob>(std::move(message), std::move(reply)));
}

void PgChatStore::Thread(int64_t conv, int64_t user, int64_t root, int64_t before, int64_t seen,
                         PageLimit limit, Reply<ThreadPage> reply) {
  const int64_t below = before > 0 ? before : std::numeric_limits<int64_t>::max();
  ReadReplicaFirst(
      *pipeline_, replica_.get(), /*names_seen=*/seen > 0,
      {Query("membership", {Int(conv), Int(user)}),
       Query("thread_root", {Int(conv), Int(root), Int(user)}),
       Query("thread",
             {Int(conv), Int(root), Int(below), Int(int64_t{limit.count} + 1), Int(user)})},
      PageFresh(replica_.get(), conv, before, seen),
      [limit](PgResults results, ThreadPage& thread) {
        Page& out = thread.page;
        if (PQntuples(results[0]) == 0) {
          out.denial = Denial::kNotFound;
          return Status();
        }
        if (!Row{results[0], 0}.Bool(3)) {
          out.denial = Denial::kForbidden;
          return Status();
        }
        if (PQntuples(results[1]) == 0) {
          out.denial = Denial::kNotFound;
          return Status();
        }
        thread.read_seq = Row{results[1], 0}.Int(0);
        thread.unread = Row{results[1], 0}.Int(1);
        // A reply is taken while any of the byte budget is left (PageLimit).
        uint64_t bytes_left = limit.bytes;
        ForEachRow(results[2], [&](const Row& row) {
          if (out.more) return;
          if (out.messages.size() == limit.count || bytes_left == 0) {
            out.more = true;
            return;
          }
          out.messages.push_back(row.ReadMessage(0));
          bytes_left -= std::min(bytes_left, PageBytes(out.messages.back()));
        });
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
        if (PQntuples(results[0]) == 0) {
          out.denial = Denial::kNotFound;
        } else if (!Row{results[0], 0}.Bool(3)) {
          out.denial = Denial::kForbidden;
        } else {
          ForEachRow(results[1],
                     [&](const Row& row) { out.messages.push_back(row.ReadMessage(0)); });
        }
        return Status();
      },
      std::move(reply));
}

void PgChatStore::History(int64_t conv, int64_t user, int64_t before, int64_t seen, PageLimit limit,
                          Reply<Page> reply) {
  const int64_t below = before > 0 ? before : std::numeric_limits<int64_t>::max();
  ReadReplicaFirst(
      *pipeline_, replica_.get(), /*names_seen=*/seen > 0,
      {Query("membership", {Int(conv), Int(user)}),
       Query("history",
             {Int(conv), Int(user), Int(below), Int(limit.count), Int(Clamp(limit.bytes))})},
      PageFresh(replica_.get(), conv, before, seen),
      [](PgResults results, Page& out) {
        if (PQntuples(results[0]) == 0) {
          out.denial = Denial::kNotFound;
          return Status();
        }
        if (!Row{results[0], 0}.Bool(3)) {
          out.denial = Denial::kForbidden;
          return Status();
        }
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
  PgQuery conversations{.statement = "sync_conversations",
                        .values = {Int(user), Int8Array(convs), Int8Array(afters)},
                        .binary = {false, true, true}};
  PgQuery messages{.statement = "sync_messages",
                   .values = {Int(user), Int8Array(convs), Int8Array(afters), Int(limit.count),
                              Int(Clamp(limit.bytes))},
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
  PgQuery query{.statement = "last_seqs", .values = {Int8Array(convs)}, .binary = {true}};
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead, {std::move(query)},
         RowsInto([](const Row& row) {
           return std::pair{row.Int(0), row.Int(1)};
         }),
         std::move(reply));
}

void PgChatStore::CollectMetrics(MetricSet& out) const {
  const PgPipelineStats stats = pipeline_->stats();
  CollectStoreMetrics({.backend = "postgresql",
                       .up = !stats.outage,
                       .batches = stats.batches,
                       .jobs = stats.jobs,
                       .failed_jobs = stats.failed_jobs,
                       .rejected = stats.rejected,
                       .refused_wait = stats.refused_wait,
                       .write_wait_estimate = stats.write_wait_estimate,
                       .write_rate = stats.write_rate,
                       .queued_writes = stats.queued,
                       .reconnects = stats.reconnects},
                      pipeline_->batch_sizes(), pipeline_->commit_seconds(),
                      pipeline_->queue_wait_seconds(), out);
  if (replica_) replica_->CollectMetrics(out);
}

// --- Uploads (issue 15) -------------------------------------------------------------------

namespace {
UploadRecord ReadUpload(const Row& row) {
  return UploadRecord{.id = row.Text(0),
                      .owner = row.Int(1),
                      .name = row.Text(2),
                      .size = row.Int(3),
                      .type = row.Text(4),
                      .sha256 = row.Text(5),
                      .created = row.Int(6),
                      .width = row.Int(7),
                      .height = row.Int(8),
                      .thumb_sha256 = row.Text(9),
                      .thumb_size = row.Int(10)};
}
}  // namespace

void PgChatStore::CreateUpload(UploadRecord r, uint64_t quota_bytes, Reply<UploadOutcome> reply) {
  const int64_t quota = static_cast<int64_t>(std::min<uint64_t>(quota_bytes, INT64_MAX));
  Submit(
      *pipeline_, LaneOf(r.owner), Kind::kWrite,
      {Query("create_upload",
             {std::move(r.id), Int(r.owner), std::move(r.name), Int(r.size), std::move(r.type),
              std::move(r.sha256), Int(r.created), Int(r.width), Int(r.height),
              std::move(r.thumb_sha256), Int(quota), Int(r.thumb_size)})},
      [](PgResults results, UploadOutcome& out) {
        ForEachRow(results[0], [&](const Row& row) {
          out.over_quota = row.Bool(0);
          out.used_bytes = row.Int(1);
        });
        return Status();
      },
      std::move(reply));
}

void PgChatStore::FindOwnedUploads(int64_t owner, std::vector<std::string> ids,
                                   Reply<std::vector<UploadRecord>> reply) {
  std::vector<const std::string*> pointers;
  for (const std::string& id : ids) pointers.push_back(&id);
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead,
         {PgQuery{.statement = "find_owned_uploads",
                  .values = {Int(owner), pg::TextArrayBinary(pointers)},
                  .binary = {false, true}}},
         RowsInto(ReadUpload), std::move(reply));
}

void PgChatStore::FindUpload(std::string id, int64_t user,
                             Reply<std::optional<UploadRecord>> reply) {
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead,
         {Query("find_upload", {std::move(id), Int(user)})}, RowsInto(ReadUpload),
         std::move(reply));
}

}  // namespace ringcast::storage
