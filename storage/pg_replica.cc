#include "storage/pg_replica.h"

#include <algorithm>
#include <cstdlib>

namespace ringcast::storage {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

size_t Bucket(int64_t id) {
  // Fibonacci hashing: neighbouring ids (as they are handed out) land apart.
  return size_t((uint64_t(id) * 0x9E3779B97F4A7C15ull) >> 50) % PgReplica::kBuckets;
}

void RaiseTo(std::atomic<int64_t>& cell, int64_t value) {
  int64_t seen = cell.load(std::memory_order_relaxed);
  while (seen < value && !cell.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

// How far the replica is behind what it has received: seconds since the last transaction it
// applied while it has WAL left to apply (0 when it has applied all it received: an idle
// primary is not lag), and the bytes left to apply. 0, 0 on a primary.
constexpr PgStatement kLagStatement{
    "replica_lag",
    "SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() IS NULL OR "
    "pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 ELSE coalesce(extract(epoch "
    "FROM now() - pg_last_xact_replay_timestamp()), 0) END, CASE WHEN pg_is_in_recovery() THEN "
    "coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0) ELSE 0 "
    "END"};

class LagProbe final : public PgJob {
 public:
  LagProbe(std::atomic<double>& seconds, std::atomic<double>& bytes, std::atomic<bool>& known)
      : seconds_(seconds), bytes_(bytes), known_(known) {}
  void BuildQueries(std::vector<PgQuery>& queries) override {
    queries.push_back(PgQuery{.statement = kLagStatement.name});
  }
  bool read_only() const override { return true; }
  bool retry_safe() const override { return true; }
  Status Consume(PgResults results) override {
    if (results.size() != 1 || PQntuples(results[0]) != 1) {
      return Status(Errc::kInternal, "lag");
    }
    seconds_.store(std::strtod(PQgetvalue(results[0], 0, 0), nullptr), std::memory_order_relaxed);
    bytes_.store(std::strtod(PQgetvalue(results[0], 0, 1), nullptr), std::memory_order_relaxed);
    known_.store(true, std::memory_order_relaxed);
    return Status();
  }
  void Finish(Status status) override {
    if (!status.ok()) known_.store(false, std::memory_order_relaxed);
  }

 private:
  std::atomic<double>& seconds_;
  std::atomic<double>& bytes_;
  std::atomic<bool>& known_;
};

}  // namespace

Result<std::unique_ptr<PgReplica>> PgReplica::Start(PgReplicaOptions options,
                                                    std::span<const PgStatement> statements) {
  std::vector<PgStatement> all(statements.begin(), statements.end());
  all.push_back(kLagStatement);
  std::unique_ptr<PgReplica> replica(new PgReplica(options));
  // Half the timeout each, so that a read the replica fails and the primary then answers is
  // still answered within --db-timeout-ms.
  PgPipelineOptions pipeline{
      .conninfo = options.conninfo,
      .writers = 0,
      .readers = options.readers,
      .timeout = std::max(options.timeout / 2, std::chrono::milliseconds(50)),
      .prepared_statements = options.prepared_statements,
      .require_primary = false,
      .label = "PostgreSQL read replica",
      .log = options.log};
  auto started = PgPipeline::Start(std::move(pipeline), all);
  if (!started.ok()) return started.status();
  replica->pipeline_ = std::move(*started);
  return replica;
}

void PgReplica::Submit(std::unique_ptr<PgJob> job) {
  pipeline_->Submit(PgPipeline::kReaders, std::move(job));
}

void PgReplica::NoteCommitted(int64_t conv, int64_t seq) { RaiseTo(seqs_[Bucket(conv)], seq); }

void PgReplica::NoteChanged(int64_t id) {
  RaiseTo(changed_until_ms_[Bucket(id)],
          NowMs() + (options_.timeout + std::max(options_.max_lag, options_.timeout)).count());
}

namespace {
size_t PairBucket(int64_t conv, int64_t user) {
  return Bucket(int64_t(uint64_t(conv) * 0x100000001B3ull ^ uint64_t(user)));
}
}  // namespace

void PgReplica::NoteWatermarks(int64_t conv, int64_t user, int64_t delivered, int64_t read) {
  const size_t bucket = PairBucket(conv, user);
  RaiseTo(delivered_[bucket], delivered);
  RaiseTo(read_[bucket], read);
}

bool PgReplica::WatermarksFresh(int64_t conv, int64_t user, int64_t delivered, int64_t read) const {
  const size_t bucket = PairBucket(conv, user);
  return read >= read_[bucket].load(std::memory_order_relaxed) &&
         (delivered < 0 || delivered >= delivered_[bucket].load(std::memory_order_relaxed));
}

int64_t PgReplica::KnownSeq(int64_t conv) const {
  return seqs_[Bucket(conv)].load(std::memory_order_relaxed);
}

bool PgReplica::ChangedRecently(int64_t id) const {
  return changed_until_ms_[Bucket(id)].load(std::memory_order_relaxed) > NowMs();
}

bool PgReplica::Usable() {
  const int64_t now = NowMs();
  int64_t next = next_probe_ms_.load(std::memory_order_relaxed);
  if (now >= next &&
      next_probe_ms_.compare_exchange_strong(next, now + 1000, std::memory_order_relaxed)) {
    Probe();
  }
  if (pipeline_->stats().outage) return false;
  if (options_.max_lag.count() == 0) return true;
  // Unmeasured yet (start, or the last probe failed): the per-read check still guards it.
  return !lag_known_.load(std::memory_order_relaxed) ||
         lag_seconds_.load(std::memory_order_relaxed) * 1000 <= double(options_.max_lag.count());
}

void PgReplica::Probe() {
  pipeline_->Submit(PgPipeline::kReaders,
                    std::make_unique<LagProbe>(lag_seconds_, lag_bytes_, lag_known_));
}

void PgReplica::CollectMetrics(MetricSet& out) const {
  const PgPipelineStats stats = pipeline_->stats();
  const bool up = !stats.outage;
  out.Gauge("ringcast_db_replica_up",
            "1 while every connection to the read replica (--database-read-url) is up", up);
  const bool known = up && lag_known_.load(std::memory_order_relaxed);
  out.Gauge("ringcast_db_replica_lag_seconds",
            "The read replica's replay lag: seconds since the last transaction it applied, while "
            "it has received WAL left to apply (measured at most once a second, by reads)",
            known ? lag_seconds_.load(std::memory_order_relaxed) : 0);
  out.Gauge("ringcast_db_replica_lag_bytes",
            "WAL the read replica has received but not applied yet, bytes",
            known ? lag_bytes_.load(std::memory_order_relaxed) : 0);
  out.Counter("ringcast_db_replica_reads_total", "Reads the read replica answered",
              double(reads.load(std::memory_order_relaxed)));
  out.CounterBy("ringcast_db_replica_fallbacks_total",
                "Reads meant for the read replica that the primary answered, by reason", "reason",
                {{"stale", double(fallback_stale.load(std::memory_order_relaxed))},
                 {"error", double(fallback_error.load(std::memory_order_relaxed))},
                 {"unusable", double(fallback_unusable.load(std::memory_order_relaxed))},
                 {"unnamed", double(fallback_unnamed.load(std::memory_order_relaxed))}});
}

}  // namespace ringcast::storage
