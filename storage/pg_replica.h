// PgReplica: reads served by PostgreSQL read replicas (--database-read-url), never older than
// what this node has acknowledged or delivered; the primary answers whatever they cannot.
//
// Threads and ownership: owned by PgChatStore. Its PgPipeline (readers only, no writers) has a
// loop thread of its own; Note* and Submit may be called from any thread (shards included): the
// bookkeeping is arrays of relaxed atomics, a read is a job posted to that loop. A read that falls
// back is posted to the primary's pipeline from the replica's loop thread (Submit is
// thread-safe), so the primary must outlive the replica: PgChatStore stops the replica first.
//
// Freshness (storage/README.md, "Read replicas"): the node keeps, per conversation, the newest
// seq it knows committed (every message its owners accept: its own sends' commits, other
// nodes' messages, gap fills) in kBuckets buckets by conversation id. A bucket holds the
// maximum over the conversations that share it, so a collision only asks for more than needed
// (a fallback, never a stale answer). A read that names a seq (sync after S, history before B,
// the `seen` of history and threads) asks for that much too; receipts' watermarks are kept the
// same way, by (conversation, user). What the node knows is every acked seq only while it is
// the database's sole writer: in cluster mode another node may have acked a newer one whose
// publication has not reached this node yet (or never will: it does not follow the
// conversation), so there only a read that names what its client has seen may try the replica
// (Trusts); the others read the primary.
// The replica's answer carries the conversation's last_seq from the same snapshot; below what
// is asked, the read goes to the primary. Membership and group changes made through this node
// mark their users and conversation for a while (the operation timeout plus the lag bound, or
// twice the timeout): lists that involve them go to the primary meanwhile. Reads go to the
// primary at once while the replica is down or its measured lag is over
// --db-replica-max-lag-ms.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/metrics/metric_set.h"
#include "storage/pg_pipeline.h"
#include "storage/store_types.h"
#include "storage/unique_function.h"

namespace ringcast::storage {

struct PgReplicaOptions {
  std::string conninfo;  // --database-read-url: one host or several (libpq tries them in order).
  uint32_t readers = 2;
  std::chrono::milliseconds timeout{5000};
  std::chrono::milliseconds max_lag{5000};  // 0: no bound.
  bool prepared_statements = true;          // PgPipelineOptions::prepared_statements.
  // No other node writes to the database (no --redis): what NoteCommitted hears is every seq
  // the node's clients were acked. False in cluster mode.
  bool sole_writer = true;
  void (*log)(bool warning, const std::string& line) = nullptr;
};

class PgReplica {
 public:
  static constexpr size_t kBuckets = 16384;  // 128 KiB per array.

  // Starts the pool; the replica may be down (an outage its loop reconnects). Fails only on
  // a misuse (no readers) or when the loop cannot start.
  static Result<std::unique_ptr<PgReplica>> Start(PgReplicaOptions options,
                                                  std::span<const PgStatement> statements);
  ~PgReplica() { Stop(std::chrono::milliseconds(0)); }

  void Stop(std::chrono::milliseconds drain_limit) { pipeline_->Stop(drain_limit); }

  // `conv` has committed messages up to `seq` (any thread).
  void NoteCommitted(int64_t conv, int64_t seq);
  // A user's memberships, or a conversation's members or settings, are changing (any thread):
  // lists of that user or showing that conversation read the primary for a while. Users and
  // conversations share the buckets (a collision only sends more reads to the primary).
  void NoteChanged(int64_t id);
  // `user`'s watermarks in `conv` are committed at least this far (a receipt's answer).
  void NoteWatermarks(int64_t conv, int64_t user, int64_t delivered, int64_t read);
  // Whether watermarks read on the replica are at least what this node knows (`delivered` < 0:
  // not read).
  bool WatermarksFresh(int64_t conv, int64_t user, int64_t delivered, int64_t read) const;
  // The newest seq of `conv` this node knows committed (a bucket's: maybe more, never less).
  int64_t KnownSeq(int64_t conv) const;
  bool ChangedRecently(int64_t id) const;
  // Whether a read may try the replica: always on the sole writer; in cluster mode only when it
  // names the seqs its client has seen (`names_seen`), since a seq another node acked a moment
  // ago may not have reached this node (the client's next request can overtake the
  // publication). Any thread.
  bool Trusts(bool names_seen) const { return names_seen || options_.sole_writer; }

  // Whether reads may go to the replica now: connected, and its lag (measured at most once a
  // second, by the traffic) under the bound.
  bool Usable();

  // Runs a read job on the replica's readers (pg_store_internal.h's ReadReplicaFirst builds
  // it: one REPEATABLE READ snapshot, checked for freshness, else run again on the primary).
  void Submit(std::unique_ptr<PgJob> job);

  void CollectMetrics(MetricSet& out) const;

  // Counters (relaxed; the jobs bump them on the loop thread).
  std::atomic<uint64_t> reads{0};              // Answered by the replica.
  std::atomic<uint64_t> fallback_stale{0};     // It had not replayed far enough.
  std::atomic<uint64_t> fallback_error{0};     // It failed (down, timeout).
  std::atomic<uint64_t> fallback_unusable{0};  // Not tried: down or lagging past the bound.
  std::atomic<uint64_t> fallback_unnamed{0};   // Not tried: cluster mode, no seq named.

 private:
  explicit PgReplica(PgReplicaOptions options) : options_(std::move(options)) {}
  void Probe();  // Measures the lag (a job on the replica).

  const PgReplicaOptions options_;
  std::unique_ptr<PgPipeline> pipeline_;
  std::array<std::atomic<int64_t>, kBuckets> seqs_{};
  std::array<std::atomic<int64_t>, kBuckets> changed_until_ms_{};  // Steady clock.
  // By (conversation, user): the watermarks receipts committed.
  std::array<std::atomic<int64_t>, kBuckets> delivered_{};
  std::array<std::atomic<int64_t>, kBuckets> read_{};
  std::atomic<int64_t> next_probe_ms_{0};
  std::atomic<double> lag_seconds_{0};
  std::atomic<double> lag_bytes_{0};
  std::atomic<bool> lag_known_{false};
};

}  // namespace ringcast::storage
