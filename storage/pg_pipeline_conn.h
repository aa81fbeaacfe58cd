// PgPipeline::Conn, one libpq connection of a PgPipeline and the unit it runs: shared by
// pg_pipeline.cc (the loop's turn, the lanes, dispatch) and pg_pipeline_conn.cc (connecting,
// sending a unit, reading its results, failing and reconnecting). Internal to the pipeline; its
// loop thread only (pg_pipeline.h).
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "storage/pg_pipeline.h"

namespace ringcast::storage {

namespace pg_pipeline_internal {

// A failed connection's backoff: it reconnects after a random wait up to it (full jitter), and it
// doubles on each failure up to kMaxBackoff (PgPipeline::Fail).
inline constexpr std::chrono::milliseconds kFirstBackoff{100};
inline constexpr std::chrono::milliseconds kMaxBackoff{2000};

}  // namespace pg_pipeline_internal

struct PgPipeline::Conn {
  enum class State : uint8_t { kDown, kConnecting, kSetup, kReady, kBusy };

  explicit Conn(uint32_t lane_index, bool is_writer) : lane(lane_index), writer(is_writer) {}
  int watch = -1;  // Its socket's IoLoop watch.
  ~Conn() { Close(); }
  void Close() {
    ClearResults();
    if (pg != nullptr) PQfinish(pg);
    pg = nullptr;
    state = State::kDown;
    want_write = false;
  }
  void ClearResults() {
    for (PGresult* result : results) PQclear(result);
    results.clear();
  }

  const uint32_t lane;  // Writer lane index; unused for readers.
  const bool writer;
  PGconn* pg = nullptr;
  State state = State::kDown;
  PostgresPollingStatusType connect_wait = PGRES_POLLING_WRITING;
  bool want_write = false;  // PQflush left output queued.
  std::unique_ptr<PgJob> unit;
  size_t leading = 0;                           // Results before the job's own (ROLLBACK, BEGIN).
  size_t trailing = 0;                          // Results after them (COMMIT).
  size_t expected = 0;                          // All results of the unit.
  std::vector<PGresult*> results;               // Owned; cleared when the unit ends.
  std::chrono::steady_clock::time_point since;  // Connect or send time, for the timeout.
  std::chrono::steady_clock::time_point retry_at;
  std::chrono::milliseconds backoff{0};

  // For the writer lane's wait bound: the unit's jobs (a batch's members), and whether its lane
  // still held jobs when it was sent (its time then measures the lane's backlogged rate).
  uint32_t unit_jobs = 0;
  bool backlog = false;
};

}  // namespace ringcast::storage
