#include "core/runtime/shard.h"

#include <algorithm>
#include <cerrno>

#include "core/log.h"
#include "core/runtime/allocator.h"
#include "core/runtime/shard_set.h"

namespace ringcast {
namespace {

constexpr unsigned kRingEntries = 4096;
// After the shutdown deadline, for the cancellations of aborted connections to complete (they
// normally do within an iteration; this bounds a kernel that is slow to).
constexpr uint64_t kShutdownGraceTicks = 10;

}  // namespace

thread_local Shard* Shard::current_ = nullptr;

Shard::Shard(ShardSet& set, uint32_t id, const Config& config, MailboxMatrix& mailboxes)
    : set_(set),
      id_(id),
      config_(config),
      reactor_(*this, set, id, mailboxes, config.max_mail_backlog),
      table_(reactor_, config, stats_),
      ws_(reactor_, table_, config, stats_),
      http_(reactor_, table_, ws_, config, stats_),
      topics_(*this) {
  table_.SetDrivers(&http_, &ws_);
  reactor_.set_shutdown_timeout(config.shutdown_timeout_s);
}

Shard::~Shard() = default;

int Shard::Setup() {
  current_ = this;
  SetLogShard(static_cast<int>(id_));
  if (!config_.access_log.empty()) {
    access_log_ = std::make_unique<AccessLog>();
    table_.SetAccessLog(access_log_.get());
    http_.SetAccessLog(access_log_.get());
    ws_.SetAccessLog(access_log_.get());
  }
  int rc = reactor_.Init(kRingEntries, config_.recv_buffers, config_.recv_buffer_size);
  if (rc < 0) return rc;
  table_.SetTls(set_.tls());
  return table_.Setup();
}

WorkerPool& Shard::workers() { return set_.workers(); }

void Shard::Run() { reactor_.Run(*this); }

void Shard::DeliverLeftoverMail() {
  current_ = this;
  reactor_.DeliverLeftoverMail();
  current_ = nullptr;
}

cluster::ClusterNode* Shard::cluster() const { return set_.cluster(); }

void Shard::CollectMetrics(MetricSet& out) const {
  const Reactor::LoopCounts& loop = reactor_.loop_counts();
  stats_.Collect(out, id_,
                 {.open = table_.live(),
                  .mailbox = reactor_.mailbox_depth(),
                  .turns = loop.turns,
                  .completions = loop.completions});
  if (app_) app_->CollectMetrics(out);
}

bool Shard::Busy() const { return table_.live() > 0 || (app_ && !app_->Drained()); }

void Shard::OnTick(uint64_t now) {
  recent_connections_.store(table_.live(), std::memory_order_relaxed);
  if (app_) app_->OnTick();
  table_.OnTick();
  if (now >= next_cache_return_) {
    next_cache_return_ = now + Reactor::SecondsToTicks(1);
    ReturnThreadCache();
  }
  if (!reactor_.stopping() || now < reactor_.stop_deadline()) return;
  table_.ForEach([this](Connection& conn) {
    if (conn.state() != Connection::State::kClosed) table_.Abort(conn);
  });
  if (now >= reactor_.stop_deadline() + kShutdownGraceTicks) {
    if (table_.live() > 0) {
      RC_LOG(kWarn, "shard %u: %zu connections still busy at shutdown", id_, table_.live());
    } else {
      RC_LOG(kWarn, "shard %u: stopping with application work still in flight", id_);
    }
    reactor_.Finish();
  }
}

void Shard::BeginShutdown() {
  table_.StopAccepting();
  RC_LOG(kInfo, "shard %u: shutting down, closing %zu connections", id_, table_.live());
  // The application first (the chat's sessions may close otherwise); Close() is a no-op on a
  // connection already closing, so the loop below takes what it left open.
  if (app_) app_->OnShutdown();
  table_.ForEach([this](Connection& conn) {
    if (conn.state() == Connection::State::kWebSocket) {
      conn.Close(uint16_t(ws::CloseCode::kGoingAway), "server shutting down",
                 CloseReason::kShutdown);
    } else if (conn.state() == Connection::State::kHttp) {
      table_.Abort(conn);
    }
  });
}

}  // namespace ringcast
