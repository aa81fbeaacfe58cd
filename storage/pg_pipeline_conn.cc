// One connection of a PgPipeline (pg_pipeline.h): connecting it (blocking at start, then on the
// loop), setting its session up, sending a unit and reading its results, failing and
// reconnecting, and the outage they report; the libpq helpers the store shares. The queues and the
// loop's turn are pg_pipeline.cc.
#include "storage/pg_pipeline_conn.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "storage/pg_pipeline.h"

namespace ringcast::storage {
namespace {

using Clock = std::chrono::steady_clock;
using pg_pipeline_internal::kFirstBackoff;
using pg_pipeline_internal::kMaxBackoff;
using std::chrono::milliseconds;

constexpr uint32_t kMaxAttempts = 4;  // Sends of one job after serialization failures.

Errc ErrcOfSqlstate(const char* sqlstate) {
  if (sqlstate == nullptr || std::strlen(sqlstate) != 5) return Errc::kInternal;
  const std::string_view code(sqlstate, 5);
  const std::string_view klass = code.substr(0, 2);
  if (klass == "08" || code == "57P01" || code == "57P02" || code == "57P03") {
    return Errc::kUnavailable;  // Connection exceptions; the server shutting down or starting.
  }
  if (klass == "23" || klass == "22") return Errc::kConstraint;
  if (klass == "40" || code == "55P03") return Errc::kBusy;  // Serialization, deadlock, lock.
  if (code == "25006") return Errc::kReadOnly;               // A standby, or read-only mode.
  if (klass == "53" || klass == "58") return Errc::kIo;      // Disk full, out of memory, I/O.
  if (klass == "XX") return Errc::kCorrupt;
  if (klass == "42" || klass == "26" || klass == "34") return Errc::kMisuse;
  return Errc::kInternal;
}

int SqlstateAsInt(const char* sqlstate) {
  // Base 36, as PostgreSQL's MAKE_SQLSTATE does, so backend_code() identifies it in logs.
  int value = 0;
  for (int i = 0; sqlstate && i < 5 && sqlstate[i]; ++i) {
    const char c = sqlstate[i];
    value = value * 36 + (c >= 'A' ? c - 'A' + 10 : c - '0');
  }
  return value;
}

bool ResultOk(const PGresult* result) {
  const ExecStatusType status = PQresultStatus(result);
  return status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
}

}  // namespace

std::string FirstLine(const char* text) {
  std::string line = text ? text : "";
  if (auto end = line.find('\n'); end != std::string::npos) line.resize(end);
  return line;
}

std::string RedactConninfo(const std::string& conninfo) {
  std::string out = conninfo;
  // URL form: scheme://user:password@host...
  if (auto scheme = out.find("://"); scheme != std::string::npos) {
    const size_t authority = scheme + 3;
    const size_t at = out.find('@', authority);
    const size_t colon = out.find(':', authority);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // Keyword form, and ?password= in a URL.
  for (const char* key : {"password=", "password ="}) {
    for (size_t pos = out.find(key); pos != std::string::npos; pos = out.find(key, pos + 1)) {
      const size_t start = pos + std::strlen(key);
      size_t end = start;
      if (end < out.size() && out[end] == '\'') {
        end = out.find('\'', end + 1);
        end = end == std::string::npos ? out.size() : end + 1;
      } else {
        while (end < out.size() && out[end] != ' ' && out[end] != '&') ++end;
      }
      out.replace(start, end - start, "***");
    }
  }
  return out;
}

Status PgStatus(const PGresult* result, PGconn* conn) {
  if (result == nullptr) {
    return Status(Errc::kUnavailable, FirstLine(conn ? PQerrorMessage(conn) : "no connection"));
  }
  if (PQresultStatus(result) == PGRES_PIPELINE_ABORTED) {
    return Status(Errc::kInternal, "statement skipped: an earlier one in its pipeline failed");
  }
  const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char* message = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  if (sqlstate == nullptr) {
    // libpq's own failure (the connection broke mid-result): no SQLSTATE from a server.
    return Status(Errc::kUnavailable, FirstLine(PQresultErrorMessage(result)));
  }
  return Status(ErrcOfSqlstate(sqlstate), SqlstateAsInt(sqlstate),
                std::string(sqlstate) + " " + FirstLine(message));
}

namespace {
// The server's notices (a WARNING as it shuts down, a NOTICE of a no-op): libpq would print
// them on stderr; the loop logs the outage itself, once.
void IgnoreNotice(void*, const char*) {}
}  // namespace

PGconn* PgConnect(const std::string& conninfo, bool blocking) {
  // A URL's own application_name wins: expand_dbname lets later values override earlier ones.
  const char* keys[] = {"application_name", "dbname", nullptr};
  const char* values[] = {"ringcast", conninfo.c_str(), nullptr};
  PGconn* conn =
      blocking ? PQconnectdbParams(keys, values, 1) : PQconnectStartParams(keys, values, 1);
  if (conn != nullptr) PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
  return conn;
}

namespace {

// Every session: the writers' durability ($1), and plans made once per statement. Our
// statements are built for index probes per input row whatever the batch size, so a generic
// plan is as good as a custom one, and planning append_batch (about 10 ms) per batch would cost
// as much as running it. No sequential scans: every statement has an index path, and a plan
// made on a fresh database (where a scan of the empty tables is the cheapest) would otherwise
// scan them whole on every batch as they grow, until an ANALYZE replaced it.
constexpr const char* kSessionSetup =
    "SELECT set_config('synchronous_commit', $1, false), "
    "set_config('plan_cache_mode', 'force_generic_plan', false), "
    "set_config('enable_seqscan', 'off', false)";

// Without prepared statements, at the start of every unit (after its BEGIN, or opening the
// implicit transaction its sync closes): the same settings, for this transaction only, so
// that none is left on a server connection a pooler hands to another client next. No
// plan_cache_mode: an unnamed statement is planned for each execution anyway, and a custom
// plan then sees the values.
constexpr const char* kUnitSetup =
    "SELECT set_config('synchronous_commit', $1, true), "
    "set_config('enable_seqscan', 'off', true)";

// 42P05 (a statement of that name is already prepared) when connecting, or 26000 (none of
// that name) later: what a pooler in transaction mode does to per-connection statements.
bool PoolerSymptom(const Status& status) {
  return status.backend_code() == SqlstateAsInt("42P05") ||
         status.backend_code() == SqlstateAsInt("26000");
}

constexpr const char* kPoolerHint =
    ": is a pooler in transaction mode (pgbouncer) in between? It hands each transaction "
    "whichever server connection is free, so per-connection prepared statements cannot work: "
    "start with --no-db-prepared-statements (storage/README.md, \"Through pgbouncer\")";

// Prepares every statement and sets the session up, on a blocking connection (nothing to do
// without prepared statements: the units carry their own settings).
Status SetUpBlocking(PGconn* pg, std::span<const PgStatement> statements,
                     const std::string& synchronous_commit, bool prepared_statements) {
  if (!prepared_statements) return Status();
  const char* value = synchronous_commit.c_str();
  PGresult* result = PQexecParams(pg, kSessionSetup, 1, nullptr, &value, nullptr, nullptr, 0);
  Status status = ResultOk(result) ? Status() : PgStatus(result, pg);
  PQclear(result);
  if (!status.ok()) return status;
  for (const PgStatement& statement : statements) {
    result = PQprepare(pg, statement.name, statement.sql, 0, nullptr);
    status = ResultOk(result) ? Status() : PgStatus(result, pg);
    PQclear(result);
    if (!status.ok()) {
      return Status(status.errc(), status.backend_code(),
                    std::string("preparing ") + statement.name + ": " + status.message() +
                        (PoolerSymptom(status) ? kPoolerHint : ""));
    }
  }
  return Status();
}

}  // namespace

Status PgPipeline::ConnectBlocking(Conn& conn) {
  conn.pg = PgConnect(options_.conninfo, /*blocking=*/true);
  if (conn.pg == nullptr || PQstatus(conn.pg) != CONNECTION_OK) {
    return Status(Errc::kUnavailable,
                  "cannot connect to " + options_.label + ": " +
                      FirstLine(conn.pg ? PQerrorMessage(conn.pg) : "out of memory"));
  }
  if (std::string why = NotPrimary(conn); !why.empty()) {
    return Status(Errc::kReadOnly, "PostgreSQL: " + why +
                                       ": name the primary in the URL, or list every host with "
                                       "target_session_attrs=read-write");
  }
  if (Status s = SetUpBlocking(conn.pg, statements_, options_.synchronous_commit,
                               options_.prepared_statements);
      !s.ok()) {
    return s;
  }
  if (PQsetnonblocking(conn.pg, 1) != 0 || PQenterPipelineMode(conn.pg) != 1) {
    return Status(Errc::kInternal,
                  "cannot enter pipeline mode: " + FirstLine(PQerrorMessage(conn.pg)));
  }
  conn.state = Conn::State::kReady;
  return Status();
}

void PgPipeline::NoteOutage(const std::string& why) {
  if (in_outage_) return;
  in_outage_ = true;
  outage_.store(true, std::memory_order_relaxed);
  outage_since_ = Clock::now();
  if (options_.log) {
    options_.log(true, options_.label + " unreachable (" + why +
                           "): reconnecting with backoff; operations waiting longer than " +
                           std::to_string(options_.timeout.count()) + " ms fail as unavailable");
  }
}

void PgPipeline::NoteRecovered() {
  if (!in_outage_) return;
  for (const auto& conn : conns_) {
    if (conn->state != Conn::State::kReady && conn->state != Conn::State::kBusy) return;
  }
  in_outage_ = false;
  outage_.store(false, std::memory_order_relaxed);
  if (options_.log) {
    const double seconds = std::chrono::duration<double>(Clock::now() - outage_since_).count();
    char line[64];
    std::snprintf(line, sizeof line, " reachable again after %.1f s", seconds);
    options_.log(false, options_.label + line);
  }
}

void PgPipeline::Fail(Conn& conn, const std::string& why) {
  if (conn.unit) {
    std::unique_ptr<PgJob> job = std::move(conn.unit);
    if (job->retry_safe()) {
      retries_.fetch_add(1, std::memory_order_relaxed);
      queued_.fetch_add(1, std::memory_order_relaxed);
      LaneOf(conn).jobs.push_front(std::move(job));
    } else {
      FinishJob(std::move(job), Status(Errc::kUnavailable,
                                       "the database connection broke with this write in flight (" +
                                           why + "): it may or may not have been committed"));
    }
  }
  conn.Close();
  conn.backoff =
      conn.backoff.count() == 0 ? kFirstBackoff : std::min(conn.backoff * 2, kMaxBackoff);
  // Full jitter, so that a pool (or a fleet) does not reconnect in lock step.
  static thread_local std::minstd_rand random(std::random_device{}());
  conn.retry_at = Clock::now() + milliseconds(random() % (conn.backoff.count() + 1));
  NoteOutage(why);
}

void PgPipeline::StartConnect(Conn& conn) {
  reconnects_.fetch_add(1, std::memory_order_relaxed);
  conn.pg = PgConnect(options_.conninfo, /*blocking=*/false);
  if (conn.pg == nullptr || PQstatus(conn.pg) == CONNECTION_BAD) {
    return Fail(conn, FirstLine(conn.pg ? PQerrorMessage(conn.pg) : "out of memory"));
  }
  conn.state = Conn::State::kConnecting;
  conn.connect_wait = PGRES_POLLING_WRITING;
  conn.since = Clock::now();
}

void PgPipeline::Continue(Conn& conn) {
  conn.connect_wait = PQconnectPoll(conn.pg);
  if (conn.connect_wait == PGRES_POLLING_FAILED) {
    return Fail(conn, FirstLine(PQerrorMessage(conn.pg)));
  }
  if (conn.connect_wait != PGRES_POLLING_OK) return;
  if (std::string why = NotPrimary(conn); !why.empty()) return Fail(conn, why);
  // Connected: set the session up in the pipeline; Ready once its sync comes back.
  if (PQsetnonblocking(conn.pg, 1) != 0 || PQenterPipelineMode(conn.pg) != 1) {
    return Fail(conn, "cannot enter pipeline mode");
  }
  if (!options_.prepared_statements) {
    // No session to set up: its first unit is the first word with the server (through a
    // pooler, the first with any server connection at all).
    conn.state = Conn::State::kReady;
    conn.backoff = milliseconds(0);
    return NoteRecovered();
  }
  const char* value = options_.synchronous_commit.c_str();
  bool sent =
      PQsendQueryParams(conn.pg, kSessionSetup, 1, nullptr, &value, nullptr, nullptr, 0) == 1;
  for (const PgStatement& statement : statements_) {
    sent = sent && PQsendPrepare(conn.pg, statement.name, statement.sql, 0, nullptr) == 1;
  }
  if (!sent || PQpipelineSync(conn.pg) != 1) return Fail(conn, FirstLine(PQerrorMessage(conn.pg)));
  conn.state = Conn::State::kSetup;
  conn.since = Clock::now();
  OnWritable(conn);
}

void PgPipeline::SendUnit(Conn& conn, std::unique_ptr<PgJob> job) {
  std::vector<PgQuery> queries;
  job->BuildQueries(queries);
  ++job->attempts;
  PGconn* pg = conn.pg;
  bool sent = true;
  conn.leading = 0;
  conn.trailing = 0;
  auto send_plain = [&](const char* sql) {
    sent = sent && PQsendQueryParams(pg, sql, 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  };
  // A transaction that failed in an earlier unit is still open (a pipeline sync does not end
  // an explicit block): end it first.
  const PGTransactionStatusType transaction = PQtransactionStatus(pg);
  if (transaction == PQTRANS_INERROR || transaction == PQTRANS_INTRANS) {
    send_plain("ROLLBACK");
    ++conn.leading;
  }
  if (job->transaction()) {
    send_plain(job->read_only() ? "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY" : "BEGIN");
    ++conn.leading;
  }
  const bool prepared = options_.prepared_statements;
  if (!prepared) {
    const char* value = options_.synchronous_commit.c_str();
    sent = sent && PQsendQueryParams(pg, kUnitSetup, 1, nullptr, &value, nullptr, nullptr, 0) == 1;
    ++conn.leading;
  }
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const PgQuery& query : queries) {
    const size_t n = query.values.size();
    values.assign(n, nullptr);
    lengths.assign(n, 0);
    formats.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      const bool null = !query.nulls.empty() && query.nulls[i];
      values[i] = null ? nullptr : query.values[i].data();
      lengths[i] = static_cast<int>(query.values[i].size());
      formats[i] = !query.binary.empty() && query.binary[i] ? 1 : 0;
    }
    if (prepared) {
      sent = sent && PQsendQueryPrepared(pg, query.statement, static_cast<int>(n), values.data(),
                                         lengths.data(), formats.data(), 0) == 1;
    } else {
      // The unnamed statement, parsed again each time: Parse, Bind, Execute in the pipeline.
      const auto sql = sql_of_.find(query.statement);
      if (sql == sql_of_.end()) {  // A job naming a statement Start was not given: a bug.
        std::fprintf(stderr, "ringcast: no SQL for statement %s\n", query.statement);
        std::abort();
      }
      sent = sent && PQsendQueryParams(pg, sql->second, static_cast<int>(n), nullptr, values.data(),
                                       lengths.data(), formats.data(), 0) == 1;
    }
  }
  if (job->transaction()) {
    send_plain("COMMIT");
    ++conn.trailing;
  }
  conn.expected = conn.leading + queries.size() + conn.trailing;
  sent = sent && PQpipelineSync(pg) == 1;
  conn.unit = std::move(job);
  conn.state = Conn::State::kBusy;
  conn.since = Clock::now();
  if (!sent) return Fail(conn, FirstLine(PQerrorMessage(pg)));
  OnWritable(conn);
}

void PgPipeline::OnWritable(Conn& conn) {
  const int flushed = PQflush(conn.pg);
  if (flushed < 0) return Fail(conn, FirstLine(PQerrorMessage(conn.pg)));
  conn.want_write = flushed == 1;
}

void PgPipeline::OnReadable(Conn& conn) {
  if (PQconsumeInput(conn.pg) != 1) return Fail(conn, FirstLine(PQerrorMessage(conn.pg)));
  bool previous_null = false;
  while (conn.pg != nullptr && PQisBusy(conn.pg) == 0) {
    PGresult* result = PQgetResult(conn.pg);
    if (result == nullptr) {
      if (previous_null) break;  // Nothing pending at all.
      previous_null = true;      // The end of one statement's results.
      continue;
    }
    previous_null = false;
    if (conn.state == Conn::State::kReady) {
      // Nothing was asked: the server is telling why it drops the connection (57P01 on a
      // shutdown). Treat it as the failure it announces.
      const std::string why = PgStatus(result, conn.pg).message();
      PQclear(result);
      return Fail(conn, why);
    }
    if (PQresultStatus(result) != PGRES_PIPELINE_SYNC) {
      conn.results.push_back(result);
      continue;
    }
    PQclear(result);
    if (conn.state == Conn::State::kSetup) {
      const bool ok = std::all_of(conn.results.begin(), conn.results.end(), ResultOk);
      std::string why =
          ok ? ""
             : PgStatus(*std::find_if_not(conn.results.begin(), conn.results.end(), ResultOk),
                        conn.pg)
                   .message();
      conn.ClearResults();
      if (!ok) return Fail(conn, "setting up the session: " + why);
      conn.state = Conn::State::kReady;
      conn.backoff = milliseconds(0);
      NoteRecovered();
    } else if (conn.state == Conn::State::kBusy) {
      FinishUnit(conn);
    }
    break;  // One unit at a time: nothing else is pending.
  }
  // A result that broke the connection shows as CONNECTION_BAD.
  if (conn.pg != nullptr && PQstatus(conn.pg) == CONNECTION_BAD) {
    return Fail(conn, FirstLine(PQerrorMessage(conn.pg)));
  }
  // The server reports a change of default_transaction_read_only (a reload) with the next
  // results: an idle writer leaves before a write finds out.
  if (conn.pg != nullptr && conn.state == Conn::State::kReady) {
    if (std::string why = NotPrimary(conn); !why.empty()) Fail(conn, why);
  }
}

std::string PgPipeline::NotPrimary(const Conn& conn) const {
  if (!options_.require_primary || conn.pg == nullptr) return {};
  // Reported by servers since PostgreSQL 14 (GUC_REPORT), at connect and whenever they change.
  auto on = [&](const char* name) {
    const char* value = PQparameterStatus(conn.pg, name);
    return value != nullptr && std::strcmp(value, "on") == 0;
  };
  if (on("in_hot_standby")) return "the server is a standby (in recovery)";
  if (conn.writer && on("default_transaction_read_only")) {
    return "the server is read-only (default_transaction_read_only = on)";
  }
  return {};
}

void PgPipeline::FinishUnit(Conn& conn) {
  std::unique_ptr<PgJob> job = std::move(conn.unit);
  std::vector<PGresult*> results;
  results.swap(conn.results);
  conn.state = Conn::State::kReady;
  struct Clear {
    std::vector<PGresult*>& results;
    ~Clear() {
      for (PGresult* result : results) PQclear(result);
    }
  } clear{results};

  const PGresult* failed = nullptr;
  for (const PGresult* result : results) {
    if (!ResultOk(result)) {
      failed = result;
      break;
    }
  }
  if (failed == nullptr && results.size() == conn.expected) {
    if (!job->read_only()) {
      const double seconds = std::chrono::duration<double>(Clock::now() - conn.since).count();
      commit_seconds_.Observe(seconds);
      // The next unit of a backlogged lane is sent in the same loop turn: this is its cycle.
      if (conn.writer && conn.backlog) lane_bounds_[conn.lane].NoteBacklog(conn.unit_jobs, seconds);
    }
    const PgResults own(results.data() + conn.leading,
                        results.size() - conn.leading - conn.trailing);
    Status status = job->Consume(own);
    return FinishJob(std::move(job), std::move(status));
  }
  Status status = failed ? PgStatus(failed, conn.pg)
                         : Status(Errc::kInternal, "a statement returned no result");
  if (options_.prepared_statements && PoolerSymptom(status) && options_.log &&
      !warned_unprepared_.exchange(true, std::memory_order_relaxed)) {
    options_.log(true, "PostgreSQL: " + status.message() + kPoolerHint);
  }
  if (status.errc() == Errc::kReadOnly && options_.require_primary && !job->read_only()) {
    // The server refused a write (25006): no longer the primary, or turned read-only. Nothing
    // of the unit committed, so it runs again once a connection reaches a writable primary.
    retries_.fetch_add(1, std::memory_order_relaxed);
    queued_.fetch_add(1, std::memory_order_relaxed);
    LaneOf(conn).jobs.push_front(std::move(job));
    return Fail(conn, "the server refused a write: " + status.message());
  }
  if (status.errc() == Errc::kUnavailable) {
    // The server is going away (shutdown, crash recovery): as a broken connection.
    conn.unit = std::move(job);
    return Fail(conn, status.message());
  }
  const bool race = status.errc() == Errc::kBusy || status.backend_code() == SqlstateAsInt("23505");
  if (race && job->retry_safe() && job->attempts < kMaxAttempts) {
    // Another writer got there first (a deadlock, a serialization failure, the same cid from
    // another node): run again, now seeing what it committed.
    retries_.fetch_add(1, std::memory_order_relaxed);
    queued_.fetch_add(1, std::memory_order_relaxed);
    LaneOf(conn).jobs.push_front(std::move(job));
    return;
  }
  if (std::vector<std::unique_ptr<PgJob>> members = job->Split(); !members.empty()) {
    // One member's data failed the batch statement: run each alone so only it fails.
    Lane& lane = LaneOf(conn);
    for (auto it = members.rbegin(); it != members.rend(); ++it) {
      (*it)->alone = true;
      (*it)->attempts = 0;
      queued_.fetch_add(1, std::memory_order_relaxed);
      lane.jobs.push_front(std::move(*it));
    }
    return;
  }
  FinishJob(std::move(job), std::move(status));
}

}  // namespace ringcast::storage
