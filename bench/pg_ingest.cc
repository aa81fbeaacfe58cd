// ringcast-pg-ingest: PostgreSQL's own ingest ceiling for the chat rows, without ringcast.
//
// bench/run runs it beside the chat-1k-pg case (bench/README.md, "chat-1k-pg") so that case's
// persisted msgs/s reads as a share of what the database itself takes on this machine. It
// migrates a fresh database with the store's own migrations (MigratePg), adds the chat-1k
// fixture (1,000 users, 100 groups of 10, each user in one group), then for each point
// (mode:batch:connections) runs that many connections, each on a thread of its own with
// blocking libpq, sending batches back to back for --seconds after --warmup:
//
//   store   the store's exact statements (PgPreparedStatements): BEGIN, lock_conversations,
//           append_batch, COMMIT as one pipeline with one sync, as PgPipeline sends a batch:
//           one round trip and one commit (one WAL flush) per batch.
//   insert  one autocommitted INSERT ... SELECT FROM unnest(...) per batch with seq assigned
//           here (no conversation row lock, no watermark update): batch 1 is one autocommitted
//           INSERT per message, the "one statement per message" figure.
//
// Rows are what chat-1k sends: a 100-byte body, a sender from the conversation's members, a
// cid unique per run. Connection k of C writes only the conversations whose id % C == k, as the
// store partitions appends over --db-writers, so connections never wait for each other's row
// locks. Prints one JSON object: the points with rows/s and per-batch commit latency.
#include <libpq-fe.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "storage/pg_chat_store.h"
#include "storage/pg_schema.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace pg = ringcast::storage::pg;

constexpr int kUsers = 1000;
constexpr int kGroups = 100;
constexpr int kGroupSize = 10;
constexpr size_t kBodyBytes = 100;

// Seq pre-assigned, no lock and no watermark: a plain multi-row insert of the same rows.
constexpr const char* kPlainInsert =
    "INSERT INTO messages (conversation_id, seq, sender_id, kind, body, sent_at, client_msg_id) "
    "SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::text[], $5::text[], "
    "$6::int8[], $7::text[])";

struct Point {
  std::string mode;  // "store" or "insert"
  int batch = 0;
  int connections = 0;
};

struct Conversation {
  int64_t id = 0;
  std::vector<int64_t> members;
  int64_t next_seq = 1;  // insert mode only
};

[[noreturn]] void Die(const std::string& what, PGconn* conn = nullptr) {
  std::fprintf(stderr, "ringcast-pg-ingest: %s%s%s\n", what.c_str(), conn ? ": " : "",
               conn ? PQerrorMessage(conn) : "");
  std::exit(1);
}

// Session settings for every measuring connection (--set), e.g. plan_cache_mode, to try what
// the store's connections could set.
std::vector<std::pair<std::string, std::string>> session_settings;
// --append-sql: another text for append_batch (same parameters and result), to measure a
// candidate statement against the store's own.
std::string append_sql_override;

PGconn* Connect(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) Die("cannot connect", conn);
  for (const auto& [name, value] : session_settings) {
    const char* values[] = {name.c_str(), value.c_str()};
    PGresult* result = PQexecParams(conn, "SELECT set_config($1, $2, false)", 2, nullptr, values,
                                    nullptr, nullptr, 0);
    if (PQresultStatus(result) != PGRES_TUPLES_OK) Die("--set " + name, conn);
    PQclear(result);
  }
  return conn;
}

PGresult* Exec(PGconn* conn, const char* sql) {
  PGresult* result = PQexec(conn, sql);
  const ExecStatusType status = PQresultStatus(result);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    Die(std::string("failed: ") + sql + ": " + PQresultErrorMessage(result));
  }
  return result;
}

void Setup(const std::string& url) {
  PGconn* conn = Connect(url);
  if (auto s = ringcast::storage::MigratePg(conn); !s.ok()) Die("migration: " + s.message());
  PGresult* users = Exec(conn, "SELECT count(*) FROM users");
  const bool empty = std::string_view(PQgetvalue(users, 0, 0)) == "0";
  PQclear(users);
  if (!empty) Die("the database already has users: give a fresh one");
  // Member j of group g is user g*S + j (chat-1k's layout with U = G*S: one group per user).
  const std::string fixture =
      "BEGIN;"
      "INSERT INTO users (username, password_hash, created_at) "
      "  SELECT 'ingest' || u, 'x', 0 FROM generate_series(1, " +
      std::to_string(kUsers) +
      ") u;"
      "INSERT INTO conversations (name, is_group, created_at) "
      "  SELECT 'group' || g, true, 0 FROM generate_series(1, " +
      std::to_string(kGroups) +
      ") g;"
      "INSERT INTO users_conversations (conversation_id, user_id, joined_at) "
      "  SELECT c.id, u.id, 0 FROM conversations c JOIN users u "
      "  ON (u.id - 1) / " +
      std::to_string(kGroupSize) + " = c.id - 1;COMMIT;";
  PQclear(Exec(conn, fixture.c_str()));
  PQfinish(conn);
}

std::vector<Conversation> LoadConversations(PGconn* conn) {
  PGresult* rows = Exec(conn,
                        "SELECT c.id, uc.user_id, (SELECT coalesce(max(seq), 0) FROM messages m "
                        "WHERE m.conversation_id = c.id) FROM conversations c JOIN "
                        "users_conversations uc ON uc.conversation_id = c.id ORDER BY 1, 2");
  std::map<int64_t, Conversation> by_id;
  for (int r = 0; r < PQntuples(rows); ++r) {
    Conversation& c = by_id[std::stoll(PQgetvalue(rows, r, 0))];
    c.id = std::stoll(PQgetvalue(rows, r, 0));
    c.members.push_back(std::stoll(PQgetvalue(rows, r, 1)));
    c.next_seq = std::stoll(PQgetvalue(rows, r, 2)) + 1;
  }
  PQclear(rows);
  std::vector<Conversation> out;
  for (auto& [id, c] : by_id) out.push_back(std::move(c));
  return out;
}

struct Worker {
  // Results, read after join().
  uint64_t rows_in_window = 0;
  std::vector<int64_t> batch_ns;  // Commit round trips inside the window.
  std::string error;
};

void Prepare(PGconn* conn, const char* name, const char* sql) {
  PGresult* result = PQprepare(conn, name, sql, 0, nullptr);
  if (PQresultStatus(result) != PGRES_COMMAND_OK) {
    Die(std::string("preparing ") + name + ": " + PQresultErrorMessage(result));
  }
  PQclear(result);
}

// A measuring connection: opened once and used by every point, as the store keeps its writer
// connections. A fresh backend pays a page fault for each page of shared memory it touches
// first (shared_buffers is mapped lazily per process; about 35 us a fault on this VM, 20 ms for
// a 1,000-row batch's index probes), which a long-lived store connection pays once.
PGconn* OpenMeasuring(const std::string& url) {
  PGconn* conn = Connect(url);
  for (const auto& statement : ringcast::storage::PgPreparedStatements()) {
    const std::string_view name = statement.name;
    if (name != "lock_conversations" && name != "append_batch") continue;
    const bool replaced = name == "append_batch" && !append_sql_override.empty();
    Prepare(conn, statement.name, replaced ? append_sql_override.c_str() : statement.sql);
  }
  Prepare(conn, "plain_insert", kPlainInsert);
  return conn;
}

// A statement's parameters, all binary, as libpq takes them (pointers into `data`).
struct BinaryParams {
  explicit BinaryParams(std::vector<std::string> params) : data(std::move(params)) {
    for (const std::string& value : data) {
      values.push_back(value.data());
      lengths.push_back(static_cast<int>(value.size()));
      formats.push_back(1);
    }
  }
  int count() const { return static_cast<int>(data.size()); }

  std::vector<std::string> data;
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
};

// One connection writing batches of its conversations until `end`; counts rows whose batch
// committed between `window_start` and `end`.
void RunWorker(PGconn* conn, const Point& point, int index, std::string_view run_tag,
               Clock::time_point window_start, Clock::time_point end, Worker& out) {
  std::vector<Conversation> all = LoadConversations(conn);
  std::vector<Conversation> mine;
  for (Conversation& c : all) {
    if (c.id % point.connections == index) mine.push_back(std::move(c));
  }
  const bool store = point.mode == "store";
  if (store && PQenterPipelineMode(conn) != 1) Die("pipeline mode", conn);
  std::minstd_rand random(static_cast<uint32_t>(index * 7919 + 17));
  const std::string kind = "text";
  uint64_t counter = 0;
  std::vector<int64_t> convs, senders, seqs, times;
  std::vector<std::string> cids, bodies;
  std::vector<const std::string*> cid_refs, kind_refs, body_refs, attachment_refs;
  const std::string no_attachments;  // As the store sends a message without files.
  // As it sends one that answers nothing: reply_to and thread 0.
  const std::vector<int64_t> no_replies(static_cast<size_t>(point.batch), 0);
  while (out.error.empty()) {
    const Clock::time_point begin = Clock::now();
    if (begin >= end) break;
    convs.clear(), senders.clear(), seqs.clear(), times.clear(), cids.clear(), bodies.clear();
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    for (int i = 0; i < point.batch; ++i) {
      Conversation& c = mine[random() % mine.size()];
      convs.push_back(c.id);
      senders.push_back(c.members[random() % c.members.size()]);
      seqs.push_back(c.next_seq++);
      times.push_back(now_ms);
      cids.push_back(std::string(run_tag) + "-" + std::to_string(index) + "-" +
                     std::to_string(++counter));
      std::string body = cids.back() + " ";
      body.resize(kBodyBytes, 'x');
      bodies.push_back(std::move(body));
    }
    cid_refs.clear(), kind_refs.clear(), body_refs.clear(), attachment_refs.clear();
    for (int i = 0; i < point.batch; ++i) {
      cid_refs.push_back(&cids[i]);
      kind_refs.push_back(&kind);
      body_refs.push_back(&bodies[i]);
      attachment_refs.push_back(&no_attachments);
    }
    if (store) {
      std::vector<int64_t> locked = convs;
      std::sort(locked.begin(), locked.end());
      locked.erase(std::unique(locked.begin(), locked.end()), locked.end());
      const BinaryParams lock({pg::Int8ArrayBinary(locked)});
      const BinaryParams append({pg::Int8ArrayBinary(convs), pg::Int8ArrayBinary(senders),
                                 pg::TextArrayBinary(cid_refs), pg::TextArrayBinary(kind_refs),
                                 pg::TextArrayBinary(body_refs), pg::Int8ArrayBinary(times),
                                 pg::TextArrayBinary(attachment_refs),
                                 pg::Int8ArrayBinary(no_replies), pg::Int8ArrayBinary(no_replies)});
      bool sent = PQsendQueryParams(conn, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0) &&
                  PQsendQueryPrepared(conn, "lock_conversations", lock.count(), lock.values.data(),
                                      lock.lengths.data(), lock.formats.data(), 0) &&
                  PQsendQueryPrepared(conn, "append_batch", append.count(), append.values.data(),
                                      append.lengths.data(), append.formats.data(), 0) &&
                  PQsendQueryParams(conn, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0) &&
                  PQpipelineSync(conn);
      if (!sent) Die("send", conn);
      // Four results (each followed by a null), then the sync.
      int seen = 0;
      while (true) {
        PGresult* result = PQgetResult(conn);
        if (result ==
            nullptr) {  // Between two queries' results; none at all when the link is gone.
          if (PQstatus(conn) != CONNECTION_OK) Die("connection lost", conn);
          continue;
        }
        const ExecStatusType status = PQresultStatus(result);
        if (status == PGRES_PIPELINE_SYNC) {
          PQclear(result);
          break;
        }
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
          if (out.error.empty()) {  // The first failure; the rest of the pipeline is skipped.
            out.error = std::string(PQresStatus(status)) + " " + PQresultErrorMessage(result);
          }
        } else if (++seen == 3) {  // append_batch: every row must be stored now ('i').
          if (PQntuples(result) != point.batch) out.error = "append_batch: wrong row count";
          for (int r = 0; r < PQntuples(result) && out.error.empty(); ++r) {
            if (PQgetvalue(result, r, 1)[0] != 'i') out.error = "append_batch: a row not stored";
          }
        }
        PQclear(result);
      }
    } else {
      const BinaryParams insert({pg::Int8ArrayBinary(convs), pg::Int8ArrayBinary(seqs),
                                 pg::Int8ArrayBinary(senders), pg::TextArrayBinary(kind_refs),
                                 pg::TextArrayBinary(body_refs), pg::Int8ArrayBinary(times),
                                 pg::TextArrayBinary(cid_refs)});
      PGresult* result = PQexecPrepared(conn, "plain_insert", insert.count(), insert.values.data(),
                                        insert.lengths.data(), insert.formats.data(), 0);
      if (PQresultStatus(result) != PGRES_COMMAND_OK) out.error = PQresultErrorMessage(result);
      PQclear(result);
    }
    const Clock::time_point done = Clock::now();
    if (done >= window_start && done <= end) {
      out.rows_in_window += static_cast<uint64_t>(point.batch);
      out.batch_ns.push_back(
          std::chrono::duration_cast<std::chrono::nanoseconds>(done - begin).count());
    }
  }
  if (store && PQexitPipelineMode(conn) != 1) Die("leaving pipeline mode", conn);
  if (!store) {
    // Later store points assign seq from last_seq: move it past the rows inserted here.
    PQclear(Exec(conn,
                 "UPDATE conversations c SET last_seq = greatest(c.last_seq, (SELECT "
                 "coalesce(max(seq), 0) FROM messages m WHERE m.conversation_id = c.id))"));
  }
}

double Percentile(std::vector<int64_t>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t at = std::min(values.size() - 1, static_cast<size_t>(p * values.size()));
  return static_cast<double>(values[at]);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"PostgreSQL ingest ceiling for ringcast's chat rows (bench/README.md)"};
  std::string url;
  std::vector<std::string> point_specs = {
      "store:1:1",  "store:16:1",  "store:256:1",  "store:1000:1", "store:1:2",
      "store:16:2", "store:256:2", "store:1000:2", "insert:1:1",   "insert:1000:1"};
  double seconds = 3, warmup = 0.5, prewarm = 2;
  bool setup = true;
  std::vector<std::string> settings;
  app.add_option("url", url, "libpq connection string of a FRESH database")->required();
  app.add_option("--points", point_specs, "mode:batch:connections, mode store or insert")
      ->delimiter(',');
  app.add_option("--seconds", seconds, "measured seconds per point");
  app.add_option("--warmup", warmup, "seconds per point before the measurement");
  app.add_option("--prewarm", prewarm,
                 "seconds of unreported store batches of 256 on every connection first");
  app.add_flag("!--no-setup", setup, "the database is already migrated and has the fixture");
  app.add_option("--set", settings, "NAME=VALUE: a session setting of the measuring connections");
  std::string append_sql_file;
  app.add_option("--append-sql", append_sql_file,
                 "a file with another append_batch statement to measure instead of the store's")
      ->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  if (!append_sql_file.empty()) {
    std::ifstream in(append_sql_file);
    append_sql_override.assign(std::istreambuf_iterator<char>(in),
                               std::istreambuf_iterator<char>());
  }
  for (const std::string& setting : settings) {
    const size_t eq = setting.find('=');
    if (eq == std::string::npos) Die("--set wants NAME=VALUE");
    session_settings.emplace_back(setting.substr(0, eq), setting.substr(eq + 1));
  }

  std::vector<Point> points;
  for (const std::string& spec : point_specs) {
    Point p;
    const size_t a = spec.find(':'), b = spec.rfind(':');
    if (a == std::string::npos || a == b) Die("bad point " + spec);
    p.mode = spec.substr(0, a);
    p.batch = std::stoi(spec.substr(a + 1, b - a - 1));
    p.connections = std::stoi(spec.substr(b + 1));
    if ((p.mode != "store" && p.mode != "insert") || p.batch < 1 || p.connections < 1 ||
        p.connections > kGroups) {
      Die("bad point " + spec);
    }
    points.push_back(p);
  }
  if (setup) Setup(url);
  int most = 1;
  for (const Point& point : points) most = std::max(most, point.connections);
  std::vector<PGconn*> conns;
  for (int i = 0; i < most; ++i) conns.push_back(OpenMeasuring(url));
  if (prewarm > 0) points.insert(points.begin(), Point{"store", 256, most});

  const std::string run_tag =
      std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  std::string json = "{\"points\":[";
  bool first = true;
  for (size_t n = 0; n < points.size(); ++n) {
    const Point& point = points[n];
    const bool prewarming = prewarm > 0 && n == 0;  // Not reported.
    const double point_seconds = prewarming ? prewarm : seconds;
    std::vector<Worker> workers(static_cast<size_t>(point.connections));
    const Clock::time_point start = Clock::now();
    const auto window_start =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
    const auto end = window_start + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(point_seconds));
    std::vector<std::thread> threads;
    const std::string tag = run_tag + "p" + std::to_string(n);
    for (int i = 0; i < point.connections; ++i) {
      threads.emplace_back(RunWorker, conns[static_cast<size_t>(i)], std::cref(point), i,
                           std::string_view(tag), window_start, end,
                           std::ref(workers[static_cast<size_t>(i)]));
    }
    for (std::thread& t : threads) t.join();
    uint64_t rows = 0;
    std::vector<int64_t> latencies;
    for (const Worker& w : workers) {
      if (!w.error.empty()) Die(point.mode + " " + std::to_string(point.batch) + ": " + w.error);
      rows += w.rows_in_window;
      latencies.insert(latencies.end(), w.batch_ns.begin(), w.batch_ns.end());
    }
    if (prewarming) continue;
    char line[512];
    std::snprintf(line, sizeof line,
                  "%s{\"mode\":\"%s\",\"batch\":%d,\"connections\":%d,\"seconds\":%.3f,"
                  "\"rows\":%llu,\"rows_per_s\":%.1f,\"batches\":%zu,"
                  "\"batch_ms_p50\":%.3f,\"batch_ms_p99\":%.3f}",
                  first ? "" : ",", point.mode.c_str(), point.batch, point.connections, seconds,
                  static_cast<unsigned long long>(rows), static_cast<double>(rows) / seconds,
                  latencies.size(), Percentile(latencies, 0.5) / 1e6,
                  Percentile(latencies, 0.99) / 1e6);
    json += line;
    first = false;
    std::fprintf(
        stderr, "%-6s batch %5d x %d conn: %10.0f rows/s (batch p50 %.2f ms, p99 %.2f ms)\n",
        point.mode.c_str(), point.batch, point.connections, static_cast<double>(rows) / seconds,
        Percentile(latencies, 0.5) / 1e6, Percentile(latencies, 0.99) / 1e6);
  }
  json += "]}\n";
  std::fputs(json.c_str(), stdout);
  for (PGconn* conn : conns) PQfinish(conn);
  return 0;
}
