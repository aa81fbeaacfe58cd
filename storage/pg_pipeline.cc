// PgPipeline (pg_pipeline.h): its start, the queues (Submit, the lanes, expiry), dispatch and the
// loop's turn; one connection's life (connect, send a unit, read its results, reconnect) is
// pg_pipeline_conn.cc.
#include "storage/pg_pipeline.h"

#include <poll.h>

#include <algorithm>

#include "storage/pg_pipeline_conn.h"

namespace ringcast::storage {
namespace {

using Clock = std::chrono::steady_clock;
using pg_pipeline_internal::kFirstBackoff;
using std::chrono::milliseconds;

constexpr size_t kMaxIncoming = 65536;  // The loop's task queue, at most.

}  // namespace

PgPipeline::PgPipeline(PgPipelineOptions options, std::span<const PgStatement> statements)
    : options_(std::move(options)), statements_(statements.begin(), statements.end()) {
  for (const PgStatement& statement : statements_) sql_of_.emplace(statement.name, statement.sql);
  lane_depths_ = std::make_unique<std::atomic<uint64_t>[]>(options_.writers);
  for (uint32_t i = 0; i < options_.writers; ++i) {
    lane_bounds_.emplace_back(std::chrono::milliseconds(options_.max_wait_ms), options_.batch_max);
  }
}

Result<std::unique_ptr<PgPipeline>> PgPipeline::Start(PgPipelineOptions options,
                                                      std::span<const PgStatement> statements) {
  if ((options.writers == 0 && options.require_primary) || options.readers == 0 ||
      options.batch_max == 0) {
    return Status(Errc::kMisuse, "the PostgreSQL store needs at least one writer and one reader");
  }
  std::unique_ptr<PgPipeline> pipeline(new PgPipeline(std::move(options), statements));
  PgPipeline& self = *pipeline;
  self.writer_lanes_.resize(self.options_.writers);
  for (uint32_t i = 0; i < self.options_.writers + self.options_.readers; ++i) {
    const bool writer = i < self.options_.writers;
    auto conn = std::make_unique<Conn>(writer ? i : 0, writer);
    Status failed = self.ConnectBlocking(*conn);
    if (!failed.ok()) {
      if (self.options_.require_primary) return failed;
      // A replica down at start: reads go to the primary meanwhile; the loop reconnects.
      conn->Close();
      conn->backoff = kFirstBackoff;
      conn->retry_at = Clock::now() + kFirstBackoff;
      self.NoteOutage(failed.message());
    }
    self.conns_.push_back(std::move(conn));
  }
  std::string error;
  // The loop's queue holds what shards submitted since its last turn: at most max_queued jobs,
  // and no more cells than a turn plausibly sees (each costs 32 bytes up front).
  const size_t max_tasks = std::min<size_t>(
      self.options_.max_queued == 0 ? kMaxIncoming : self.options_.max_queued, kMaxIncoming);
  self.loop_ = IoLoop::Create({.thread_name = "store-pg", .max_tasks = max_tasks}, &error);
  if (!self.loop_) return Status(Errc::kInternal, error);
  for (const auto& conn : self.conns_) {
    Conn* c = conn.get();
    c->watch = self.loop_->Watch(-1, 0, [&self, c](short revents) { self.OnEvents(*c, revents); });
  }
  self.loop_->Start({.turn = [&self] { return self.Turn(); }});
  return pipeline;
}

PgPipeline::~PgPipeline() { Stop(milliseconds(0)); }

void PgPipeline::Submit(uint32_t lane, std::unique_ptr<PgJob> job) {
  job->deadline = Clock::now() + options_.timeout;
  Status refusal;
  if (stopping_.load(std::memory_order_acquire)) {
    refusal = Status(Errc::kStopped, "the store is stopping");
  } else if (options_.max_queued != 0 &&
             queued_.fetch_add(1, std::memory_order_relaxed) >= options_.max_queued) {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    refusal = Status(Errc::kQueueFull, "too many database operations queued");
  } else if (lane != kReaders && options_.writers != 0 &&
             !lane_bounds_[lane % options_.writers].Admit(
                 lane_depths_[lane % options_.writers].load(std::memory_order_relaxed), {})) {
    if (options_.max_queued != 0) queued_.fetch_sub(1, std::memory_order_relaxed);
    refusal = Status(Errc::kQueueFull,
                     "the database is too far behind: this write would wait longer than "
                     "--max-store-wait-ms");
  } else {
    if (options_.max_queued == 0) queued_.fetch_add(1, std::memory_order_relaxed);
    switch (loop_->Post(
        IoTask{&PgPipeline::Accept, job.get(), lane, reinterpret_cast<uint64_t>(this)})) {
      case PushResult::kQueued:
        (void)job.release();  // The task owns it now.
        return;
      case PushResult::kFull:
        refusal = Status(Errc::kQueueFull, "too many database operations queued");
        break;
      case PushResult::kClosed:
        refusal = Status(Errc::kStopped, "the store is stopping");
        break;
    }
    queued_.fetch_sub(1, std::memory_order_relaxed);
  }
  rejected_.fetch_add(1, std::memory_order_relaxed);
  job->Finish(std::move(refusal));
}

void PgPipeline::Accept(const IoTask& task) {
  auto* self = reinterpret_cast<PgPipeline*>(task.b);
  std::unique_ptr<PgJob> job(static_cast<PgJob*>(task.ptr));
  if (self->ended_) {  // Run after the loop's last turn: nothing will send it.
    self->queued_.fetch_sub(1, std::memory_order_relaxed);
    return self->FinishJob(std::move(job), Status(Errc::kStopped, "the store stopped"));
  }
  const auto lane = uint32_t(task.a);
  Lane& target = lane == kReaders || self->writer_lanes_.empty()
                     ? self->reader_lane_
                     : self->writer_lanes_[lane % self->writer_lanes_.size()];
  target.jobs.push_back(std::move(job));
}

void PgPipeline::Stop(milliseconds drain_limit) {
  std::call_once(stop_once_, [&] {
    drain_deadline_ =
        drain_limit == milliseconds::max() ? Clock::time_point::max() : Clock::now() + drain_limit;
    stopping_.store(true, std::memory_order_release);
    if (loop_) {  // Null when Start failed before it.
      loop_->WakeNow();
      loop_->Join();
    }
    conns_.clear();
  });
}

PgPipelineStats PgPipeline::stats() const {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  uint64_t refused_wait = 0;
  double rate = 0, estimate = 0;
  for (uint32_t i = 0; i < lane_bounds_.size(); ++i) {
    refused_wait += lane_bounds_[i].refused();
    rate += lane_bounds_[i].rate();
    estimate = std::max(estimate, lane_bounds_[i].EstimateSeconds(lane_depths_[i].load(kRelaxed)));
  }
  return PgPipelineStats{.batches = batches_.load(kRelaxed),
                         .batched_jobs = batched_jobs_.load(kRelaxed),
                         .max_batch = max_batch_.load(kRelaxed),
                         .jobs = jobs_.load(kRelaxed),
                         .failed_jobs = failed_jobs_.load(kRelaxed),
                         .retries = retries_.load(kRelaxed),
                         .reconnects = reconnects_.load(kRelaxed),
                         .rejected = rejected_.load(kRelaxed),
                         .queued = queued_.load(kRelaxed),
                         .refused_wait = refused_wait,
                         .write_rate = rate,
                         .write_wait_estimate = estimate,
                         .outage = outage_.load(kRelaxed)};
}

PgPipeline::Lane& PgPipeline::LaneOf(const Conn& conn) {
  return conn.writer ? writer_lanes_[conn.lane] : reader_lane_;
}

void PgPipeline::FinishJob(std::unique_ptr<PgJob> job, Status status) {
  jobs_.fetch_add(1, std::memory_order_relaxed);
  if (!status.ok()) failed_jobs_.fetch_add(1, std::memory_order_relaxed);
  job->Finish(std::move(status));
}

void PgPipeline::ExpireQueued(Clock::time_point now, bool stopping_hard) {
  auto expire = [&](Lane& lane) {
    while (!lane.jobs.empty() && (stopping_hard || lane.jobs.front()->deadline <= now)) {
      std::unique_ptr<PgJob> job = std::move(lane.jobs.front());
      lane.jobs.pop_front();
      queued_.fetch_sub(1, std::memory_order_relaxed);
      FinishJob(std::move(job),
                stopping_hard ? Status(Errc::kStopped, "the store stopped before this ran")
                : in_outage_  ? Status(Errc::kUnavailable, "the database is unreachable")
                              : Status(Errc::kUnavailable, "the database did not answer in time"));
    }
  };
  for (Lane& lane : writer_lanes_) expire(lane);
  expire(reader_lane_);
}

void PgPipeline::Dispatch(Conn& conn, Clock::time_point now) {
  if (conn.state != Conn::State::kReady) return;
  Lane& lane = LaneOf(conn);
  if (lane.jobs.empty()) return;
  std::unique_ptr<PgJob> next;
  PgJob& front = *lane.jobs.front();
  if (conn.writer && front.batchable && !front.alone && options_.batcher != nullptr) {
    size_t run = 0;
    while (run < lane.jobs.size() && run < options_.batch_max && lane.jobs[run]->batchable &&
           !lane.jobs[run]->alone) {
      ++run;
    }
    if (run < options_.batch_max && options_.batch_delay_us > 0) {
      const Clock::time_point submitted = front.deadline - options_.timeout;
      const Clock::time_point ready =
          submitted + std::chrono::microseconds(options_.batch_delay_us);
      if (now < ready) {
        batch_wait_until_ =
            batch_wait_until_ == Clock::time_point{} ? ready : std::min(batch_wait_until_, ready);
        return;
      }
    }
    std::vector<std::unique_ptr<PgJob>> members;
    members.reserve(run);
    for (size_t i = 0; i < run; ++i) {
      const Clock::time_point submitted = lane.jobs.front()->deadline - options_.timeout;
      queue_wait_seconds_.Observe(std::chrono::duration<double>(now - submitted).count());
      members.push_back(std::move(lane.jobs.front()));
      lane.jobs.pop_front();
    }
    queued_.fetch_sub(run, std::memory_order_relaxed);
    batches_.fetch_add(1, std::memory_order_relaxed);
    batched_jobs_.fetch_add(run, std::memory_order_relaxed);
    batch_sizes_.Observe(double(run));
    uint64_t max = max_batch_.load(std::memory_order_relaxed);
    while (run > max && !max_batch_.compare_exchange_weak(max, run, std::memory_order_relaxed)) {
    }
    next = options_.batcher(std::move(members));
    conn.unit_jobs = uint32_t(run);
  } else {
    next = std::move(lane.jobs.front());
    lane.jobs.pop_front();
    queued_.fetch_sub(1, std::memory_order_relaxed);
    conn.unit_jobs = 1;
    if (conn.writer) {
      const Clock::time_point submitted = next->deadline - options_.timeout;
      queue_wait_seconds_.Observe(std::chrono::duration<double>(now - submitted).count());
    }
  }
  conn.backlog = !lane.jobs.empty();
  SendUnit(conn, std::move(next));
}

Clock::time_point PgPipeline::NextTurnBy(Clock::time_point now) const {
  Clock::time_point wake = now + milliseconds(1000);
  for (const auto& conn : conns_) {
    if (conn->state == Conn::State::kDown) wake = std::min(wake, conn->retry_at);
    if (conn->state != Conn::State::kDown && conn->state != Conn::State::kReady) {
      wake = std::min(wake, conn->since + options_.timeout);
    }
  }
  for (const Lane& lane : writer_lanes_) {
    if (!lane.jobs.empty()) wake = std::min(wake, lane.jobs.front()->deadline);
  }
  if (!reader_lane_.jobs.empty()) wake = std::min(wake, reader_lane_.jobs.front()->deadline);
  if (batch_wait_until_ != Clock::time_point{}) wake = std::min(wake, batch_wait_until_);
  return wake;
}

void PgPipeline::End() {
  ended_ = true;
  for (const auto& conn : conns_) loop_->Update(conn->watch, -1, 0);
  loop_->Quit();
}

Clock::time_point PgPipeline::Turn() {
  const Clock::time_point now = Clock::now();
  const bool stopping = stopping_.load(std::memory_order_acquire);
  if (stopping && now >= drain_deadline_) {
    for (const auto& conn : conns_) {
      if (conn->unit) {
        FinishJob(std::move(conn->unit), Status(Errc::kStopped,
                                                "the store stopped with this operation in "
                                                "flight: it may or may not have been committed"));
      }
      conn->Close();
    }
    ExpireQueued(now, /*stopping_hard=*/true);
    End();
    return now;
  }
  ExpireQueued(now, false);
  if (stopping) {
    bool idle = reader_lane_.jobs.empty();
    for (const Lane& lane : writer_lanes_) idle = idle && lane.jobs.empty();
    for (const auto& conn : conns_) idle = idle && !conn->unit;
    if (idle) {
      for (const auto& conn : conns_) conn->Close();
      End();
      return now;
    }
  }
  batch_wait_until_ = {};
  for (const auto& conn : conns_) {
    Conn& c = *conn;
    if (c.state == Conn::State::kDown && now >= c.retry_at) StartConnect(c);
    if (c.state != Conn::State::kDown && c.state != Conn::State::kReady &&
        now - c.since > options_.timeout) {
      Fail(c, c.state == Conn::State::kBusy ? "no answer within the timeout"
                                            : "connecting took longer than the timeout");
    }
    Dispatch(c, now);
  }
  for (uint32_t i = 0; i < writer_lanes_.size(); ++i) {
    lane_depths_[i].store(writer_lanes_[i].jobs.size(), std::memory_order_relaxed);
  }
  for (const auto& conn : conns_) {
    Conn& c = *conn;
    // The socket may change while connecting (another address).
    const int fd = c.state == Conn::State::kDown || c.pg == nullptr ? -1 : PQsocket(c.pg);
    short events = POLLIN;
    if (c.state == Conn::State::kConnecting) {
      events = c.connect_wait == PGRES_POLLING_WRITING ? POLLOUT : POLLIN;
    } else if (c.want_write) {
      events |= POLLOUT;
    }
    loop_->Update(c.watch, fd, events);
  }
  return NextTurnBy(Clock::now());
}

void PgPipeline::OnEvents(Conn& c, short revents) {
  if (c.pg == nullptr) return;
  if (c.state == Conn::State::kConnecting) return Continue(c);
  if ((revents & POLLOUT) && c.want_write) OnWritable(c);
  if (c.pg != nullptr && (revents & (POLLIN | POLLERR | POLLHUP))) OnReadable(c);
}

}  // namespace ringcast::storage
