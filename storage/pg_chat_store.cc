// PgChatStore (pg_chat_store.h): opening the pool, accounts and its metrics; its other operations
// are in files of their own by purpose (storage/README.md). And the binary parameter encoders.
#include "storage/pg_chat_store.h"

#include <arpa/inet.h>
#include <endian.h>

#include <charconv>
#include <chrono>
#include <cstring>

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
  const PgPipelineOptions& primary = options.primary;
  const std::string password = PasswordOf(primary.conninfo);
  const std::string where = RedactConninfo(primary.conninfo);
  auto fail = [&](Errc errc, const std::string& what) {
    return Status(errc, Scrub("PostgreSQL at " + where + ": " + what, password));
  };
  PGconn* conn = PgConnect(primary.conninfo, /*blocking=*/true);
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

  PgPipelineOptions pipeline_options = primary;
  pipeline_options.batcher = &MakeAppendBatch;
  pipeline_options.log = options.log;
  auto pipeline = PgPipeline::Start(std::move(pipeline_options), PgPreparedStatements());
  if (!pipeline.ok()) return fail(pipeline.status().errc(), pipeline.status().message());
  auto store = std::unique_ptr<PgChatStore>(new PgChatStore(std::move(*pipeline)));
  if (!options.read_conninfo.empty()) {
    auto replica = PgReplica::Start({.conninfo = options.read_conninfo,
                                     .readers = primary.readers,
                                     .timeout = primary.timeout,
                                     .max_lag = options.replica_max_lag,
                                     .prepared_statements = primary.prepared_statements,
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

void PgChatStore::FindUsers(std::vector<int64_t> ids, Reply<std::vector<UserMatch>> reply) {
  Submit(
      *pipeline_, PgPipeline::kReaders, Kind::kRead,
      {PgQuery{.statement = "find_users", .values = {pg::Int8ArrayBinary(ids)}, .binary = {true}}},
      RowsInto(ReadUserMatch), std::move(reply));
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

}  // namespace ringcast::storage
