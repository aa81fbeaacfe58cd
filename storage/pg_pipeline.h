// PgPipeline: PostgreSQL connections driven by one event-loop thread, in libpq's pipeline mode.
//
// Threads and ownership:
//   - Submit() may be called from any thread (shards included): it posts the job to the loop's
//     bounded task queue (core/io/io_loop.h: lock-free, the eventfd written at most once per
//     loop turn, on a shard once per shard turn). It never waits for the database.
//   - The loop thread (an IoLoop) owns every PGconn (writers and readers), watches their
//     sockets, sends queued jobs, reads their results and calls PgJob::Finish.
//   - Finish() runs on the loop thread: it must be cheap (post a Mail) and never block.
//
// Lanes: each writer connection has a lane of its own (the caller picks it: the chat store uses
// the conversation id, so one conversation's writes are committed, and answered, in the order
// they were submitted); the readers share one lane and any idle reader takes the next job.
// A connection runs one unit at a time: a unit is one job, or on a writer lane the run of
// consecutive batchable jobs at the lane's front (up to batch_max), which the lane's
// PgBatcher turns into one job — so while a batch commits, the next one gathers.
//
// Faults: a connection that fails (socket closed, server restart, a unit in flight past
// `timeout`) is closed and reconnected with capped exponential backoff; its unit goes back to
// the front of its lane when retry-safe (reads; idempotent appends), otherwise fails with
// kUnavailable (its outcome is unknown). A server that stops taking writes (promoted away,
// a standby reached, turned read-only: require_primary) counts as a failed connection too, and
// the write it refused goes back to its lane whatever its kind (it did not commit). A job still
// queued `timeout` after Submit fails with kUnavailable, so nothing waits unboundedly for a
// database that is down. The outage is logged once when it begins and once when every connection is
// back.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/io/io_loop.h"
#include "core/metrics/metric_set.h"
#include "storage/pg_schema.h"
#include "storage/status.h"
#include "storage/wait_bound.h"

namespace ringcast::storage {

// One statement of a job: a prepared statement's name and its parameters (binary when
// `binary` says so, else text; a null value is SQL NULL).
struct PgQuery {
  const char* statement = nullptr;
  std::vector<std::string> values;
  std::vector<bool> nulls;   // Empty: none is NULL.
  std::vector<bool> binary;  // Empty: all text.
};

// What a job's results look like to it: one PGresult per query it sent, in order.
using PgResults = std::span<PGresult* const>;

class PgJob {
 public:
  virtual ~PgJob() = default;
  // Its statements, sent back to back in one pipeline with one sync.
  virtual void BuildQueries(std::vector<PgQuery>& queries) = 0;
  // Wraps the statements in BEGIN … COMMIT (several statements that must commit together, or
  // read one snapshot: `read_only` makes it REPEATABLE READ, READ ONLY).
  virtual bool transaction() const { return false; }
  virtual bool read_only() const { return false; }
  // May run again after a connection loss (reads; writes that are idempotent by design).
  virtual bool retry_safe() const = 0;
  // Every query succeeded (and committed): turn the rows into outcomes. An error Status here
  // fails the job (a result it cannot read).
  virtual Status Consume(PgResults results) = 0;
  // Exactly once: ok after Consume, or the Status that stopped the job.
  virtual void Finish(Status status) = 0;
  // A batch whose statement failed on one member's data: its members, to be retried alone so
  // that only the culprit fails. Empty for a job that is not a batch.
  virtual std::vector<std::unique_ptr<PgJob>> Split() { return {}; }

  std::chrono::steady_clock::time_point deadline;  // Set by Submit.
  uint32_t attempts = 0;                           // Times sent.
  bool batchable = false;                          // May join its lane's PgBatcher batch.
  bool alone = false;  // Set on the members of a split batch: never batched again.
};

// Turns a run of batchable jobs (1..batch_max, in submission order) into one job.
using PgBatcher = std::unique_ptr<PgJob> (*)(std::vector<std::unique_ptr<PgJob>> jobs);

struct PgPipelineOptions {
  std::string conninfo;  // A libpq connection string or URL.
  uint32_t writers = 4;
  uint32_t readers = 2;
  uint32_t batch_max = 256;
  uint32_t batch_delay_us = 0;  // Wait this long for a partial batch to fill.
  std::chrono::milliseconds timeout{5000};
  uint32_t max_queued = 1 << 20;  // Jobs waiting in all lanes: past it, kQueueFull.
  // A write whose writer lane holds more than this many milliseconds of work, at the rate its
  // connection drains it while backlogged (WaitBound), is refused at Submit with kQueueFull;
  // a lane holding less than batch_max is never refused. 0 = no limit. Reads: count only.
  uint32_t max_wait_ms = 0;
  // synchronous_commit of every transaction: a session setting on each connection with
  // prepared_statements, else set again (SET LOCAL's set_config) at the start of every unit.
  std::string synchronous_commit = "on";
  // On: every statement is prepared once per connection, when it connects, and the session's
  // settings are set once. Off: nothing outlives a unit (one pipeline sync) on its server
  // connection — each statement goes with its SQL text as the unnamed statement, and the
  // settings are set per unit — so a pooler in transaction mode (pgbouncer's pool_mode =
  // transaction, which hands each transaction whichever server connection is free) may sit
  // between ringcast and PostgreSQL. storage/README.md, "Through pgbouncer".
  bool prepared_statements = true;
  // Every connection must reach a primary (writers: one that accepts writes). A connection
  // that lands on a server in recovery (a standby), or a writer on one that turned read-only
  // (default_transaction_read_only, 25006 on a write), is closed and reconnected, so that a
  // multi-host URL's next host (target_session_attrs=read-write) or a promoted standby takes
  // over. false for a pool of read replicas, where a standby is what is wanted.
  bool require_primary = true;
  // Who the log lines name ("PostgreSQL", "PostgreSQL read replica").
  std::string label = "PostgreSQL";
  PgBatcher batcher = nullptr;
  // Where the outage and recovery lines go (storage/ has no logger of its own).
  void (*log)(bool warning, const std::string& line) = nullptr;
};

struct PgPipelineStats {
  uint64_t batches = 0;
  uint64_t batched_jobs = 0;
  uint64_t max_batch = 0;
  uint64_t jobs = 0;
  uint64_t failed_jobs = 0;
  uint64_t retries = 0;
  uint64_t reconnects = 0;
  uint64_t rejected = 0;
  uint64_t queued = 0;
  uint64_t refused_wait = 0;       // Writes refused by max_wait_ms (also in rejected).
  double write_rate = 0;           // Writer lanes' jobs/s while backlogged, summed.
  double write_wait_estimate = 0;  // Seconds a write would wait on the lane with most ahead.
  bool outage = false;
};

class PgPipeline {
 public:
  // Connects every connection (blocking, on the calling thread: at start, before any shard
  // runs) and prepares `statements` on each; then starts the loop thread. Fails with the first
  // connection's error and leaves nothing running — except for a pool of replicas
  // (!require_primary, which may have no writers): a replica down at start is an outage that
  // the loop reconnects, as later.
  static Result<std::unique_ptr<PgPipeline>> Start(PgPipelineOptions options,
                                                   std::span<const PgStatement> statements);
  PgPipeline(const PgPipeline&) = delete;
  PgPipeline& operator=(const PgPipeline&) = delete;
  ~PgPipeline();

  static constexpr uint32_t kReaders = UINT32_MAX;
  // Queues `job` on writer lane `lane % writers`, or on the readers (kReaders). On refusal
  // (queue full, stopping) the job is finished here, on the calling thread.
  void Submit(uint32_t lane, std::unique_ptr<PgJob> job);

  // Refuses new jobs, runs what is queued for up to `drain_limit` (jobs left then, or waiting
  // for a database that is down, finish with kStopped), closes the connections and joins the
  // loop. Idempotent; not from a Finish callback.
  void Stop(std::chrono::milliseconds drain_limit);

  PgPipelineStats stats() const;
  // Jobs per batch, and seconds from sending a write unit to its result (its commit).
  Histogram batch_sizes() const { return batch_sizes_.Snapshot(); }
  Histogram commit_seconds() const { return commit_seconds_.Snapshot(); }
  // Seconds each write waited in its lane, from Submit to the send of its unit.
  Histogram queue_wait_seconds() const { return queue_wait_seconds_.Snapshot(); }

 private:
  struct Conn;
  struct Lane {
    std::deque<std::unique_ptr<PgJob>> jobs;
  };

  explicit PgPipeline(PgPipelineOptions options, std::span<const PgStatement> statements);
  // On the loop thread: a submitted job (IoTask: ptr the job, a its lane, b the pipeline).
  static void Accept(const IoTask& task);
  // One turn of the loop: returns when the next must start at the latest.
  std::chrono::steady_clock::time_point Turn();
  void End();  // The last turn: what is posted later finishes with kStopped.
  void OnEvents(Conn& conn, short revents);
  void ExpireQueued(std::chrono::steady_clock::time_point now, bool stopping_hard);
  void Dispatch(Conn& conn, std::chrono::steady_clock::time_point now);
  void OnReadable(Conn& conn);
  void OnWritable(Conn& conn);
  void Continue(Conn& conn);  // Drive a connecting connection.
  void StartConnect(Conn& conn);
  Status ConnectBlocking(Conn& conn);  // At start.
  void Fail(Conn& conn, const std::string& why);
  void SendUnit(Conn& conn, std::unique_ptr<PgJob> job);
  void FinishUnit(Conn& conn);
  void FinishJob(std::unique_ptr<PgJob> job, Status status);
  // Why this connection may not serve (require_primary): a standby, or a writer on a server
  // that refuses writes; empty when it may.
  std::string NotPrimary(const Conn& conn) const;
  void NoteOutage(const std::string& why);
  void NoteRecovered();
  Lane& LaneOf(const Conn& conn);
  std::chrono::steady_clock::time_point NextTurnBy(std::chrono::steady_clock::time_point now) const;

  const PgPipelineOptions options_;
  const std::vector<PgStatement> statements_;
  // Without prepared statements: a statement's SQL by its name (the names and texts are
  // string literals, kept for the pipeline's life).
  std::unordered_map<std::string_view, const char*> sql_of_;
  std::atomic<bool> warned_unprepared_{false};  // The pooler hint, logged once.
  // Per writer lane: its wait bound (Submit admits; the loop measures the lane's connection),
  // and its depth as the loop saw it at the end of its last turn (jobs posted since are not in
  // it: at most one turn's worth).
  std::deque<WaitBound> lane_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> lane_depths_;
  std::vector<std::unique_ptr<Conn>> conns_;  // Writers first, then readers.
  std::deque<Lane> writer_lanes_;             // A deque: Lane is not nothrow-movable.
  Lane reader_lane_;
  std::unique_ptr<IoLoop> loop_;

  std::atomic<bool> stopping_{false};
  std::chrono::steady_clock::time_point drain_deadline_;  // Written before stopping_ is set.
  std::once_flag stop_once_;

  // Loop thread only.
  std::chrono::steady_clock::time_point outage_since_{};
  bool in_outage_ = false;
  bool ended_ = false;
  std::chrono::steady_clock::time_point batch_wait_until_{};

  SharedHistogram batch_sizes_{SizeBuckets()};
  SharedHistogram commit_seconds_{LatencyBuckets()};
  SharedHistogram queue_wait_seconds_{LatencyBuckets()};
  std::atomic<uint64_t> batches_{0}, batched_jobs_{0}, max_batch_{0}, jobs_{0}, failed_jobs_{0},
      retries_{0}, reconnects_{0}, rejected_{0}, queued_{0};
  std::atomic<bool> outage_{false};
};

// Opens a connection as every store connection does (application_name ringcast, notices not
// printed): blocking (PQconnectdbParams) or started for PQconnectPoll.
PGconn* PgConnect(const std::string& conninfo, bool blocking);

// The connection string with any password replaced by "***", for logs and error messages.
std::string RedactConninfo(const std::string& conninfo);

// libpq's messages end in a newline and may go on with DETAIL/HINT lines: the first, for logs.
std::string FirstLine(const char* text);

// A Status for a failed PGresult (or connection, when `result` is null): SQLSTATE mapped onto
// Errc, the server's message (first line) for logs.
Status PgStatus(const PGresult* result, PGconn* conn);

}  // namespace ringcast::storage
