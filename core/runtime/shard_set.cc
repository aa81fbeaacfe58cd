#include "core/runtime/shard_set.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <latch>
#include <thread>

#include "core/log.h"
#include "core/net/tls_context.h"
#include "proto/ws_handshake.h"

namespace ringcast {
namespace {
constexpr size_t kMailboxCapacity = 4096;

// Taken by the main thread with sigwait: SIGINT and SIGTERM stop the server, SIGHUP reopens the
// access log (log rotation) and reads the TLS certificate and key again (a renewal).
sigset_t HandledSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  return signals;
}

// SIGHUP: true when `signal_number` was one (and has been handled).
bool HandledReopen(int signal_number, TlsContext* tls) {
  if (signal_number != SIGHUP) return false;
  std::string error;
  if (ReopenAccessLog(&error)) {
    if (AccessLogEnabled()) RC_LOG(kInfo, "received SIGHUP: access log reopened");
  } else {
    RC_LOG(kError, "received SIGHUP: the access log stays where it was: %s", error.c_str());
  }
  if (tls == nullptr) return true;
  if (tls->Reload(&error)) {
    RC_LOG(kInfo, "received SIGHUP: TLS certificate reloaded (%s); open connections keep theirs",
           tls->Describe().c_str());
  } else {
    RC_LOG(kError, "received SIGHUP: TLS certificate not reloaded, the old one stays: %s",
           error.c_str());
  }
  return true;
}

}  // namespace

void ShardSet::BlockHandledSignals() {
  sigset_t signals = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

ShardSet::ShardSet(const Config& config, AppFactory factory)
    : config_(config),
      factory_(std::move(factory)),
      mailboxes_(config.threads, kMailboxCapacity, config.inbox_size) {
  for (uint32_t i = 0; i < config.threads; ++i) {
    shards_.push_back(std::make_unique<Shard>(*this, i, config, mailboxes_));
  }
}

ShardSet::~ShardSet() = default;

int ShardSet::Run() {
  // Normally done by main() before any thread exists; repeated here for other embedders (it
  // only covers threads started from now on).
  BlockHandledSignals();
  const sigset_t signals = HandledSignals();

  // OpenSSL initialises itself on first use; do it now rather than in the first handshake.
  ws::ComputeAcceptKey("dGhlIHNhbXBsZSBub25jZQ==");

  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  // Two phases: every shard sets up (its ring fd becomes known), then the worker pool is built
  // on those fds, then the loops start, so nothing can be posted to a ring that is not there.
  std::latch ready(size() + 1);
  std::latch go(1);
  std::atomic<bool> setup_failed{false};
  std::atomic<uint32_t> running{size()};
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < size(); ++i) {
    threads.emplace_back([this, i, cpus, &ready, &go, &setup_failed, &running] {
      Shard& shard = *shards_[i];
      int cpu = -1;
      if (config_.pin_threads && cpus > 0) {
        cpu = static_cast<int>(i % cpus);
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
      }
      char name[16];
      snprintf(name, sizeof(name), "shard-%u", i);
      pthread_setname_np(pthread_self(), name);
      if (shard.Setup() == 0) {
        shard.SetApplication(factory_(shard));
        RC_LOG(kInfo, "shard %u: cpu %d, listening on %s:%u", i, cpu, config_.host.c_str(),
               config_.port);
      } else {
        setup_failed = true;
      }
      ready.arrive_and_wait();
      go.wait();
      if (!setup_failed) shard.Run();
      running.fetch_sub(1, std::memory_order_release);
    });
  }
  ready.arrive_and_wait();
  if (setup_failed) {
    go.count_down();
    for (std::thread& thread : threads) thread.join();
    return 1;
  }
  // Every ring is made the same way on the same kernel: the probe is logged once.
  RC_LOG(kInfo, "io_uring features %s; client addresses %s",
         shards_[0]->features().Describe().c_str(), shards_[0]->peer_source_name());
  // The kernel spreads an address's connections over the shards: at this setting one address
  // could fill a shard's slots (docs/architecture.md, "Admission").
  if (uint64_t{config_.max_conns_per_ip} >= uint64_t{config_.max_connections} * shards_.size()) {
    RC_LOG(kWarn,
           "--max-conns-per-ip (%u) is not below --max-connections (%u) x %zu shards: one "
           "client address can take every connection slot",
           config_.max_conns_per_ip, config_.max_connections, shards_.size());
  }
  std::vector<int> ring_fds;
  for (auto& shard : shards_) ring_fds.push_back(shard->ring_fd());
  external_mail_ = std::make_unique<ExternalMail>(mailboxes_, std::move(ring_fds));
  // New accounts' password hashes run on at most half the workers (at least one), so logins
  // always find a worker free of them (worker_pool.h, "Work classes").
  WorkBudgets budgets;
  budgets[size_t(WorkClass::kLogin)].max_pending = config_.workers_login_queue;
  budgets[size_t(WorkClass::kRegistration)] = {
      .max_running = std::max<uint32_t>(1, config_.workers / 2),
      .max_pending = config_.max_pending_registrations};
  budgets[size_t(WorkClass::kMedia)].max_pending = config_.workers_media_queue;
  budgets[size_t(WorkClass::kFileRead)].max_pending = config_.workers_file_queue;
  // The object store's requests wait on the network: threads of their own on top of --workers,
  // which they never take (worker_pool.h, "Work classes").
  budgets[size_t(WorkClass::kObjectStore)] = {
      .max_running = std::max<uint32_t>(1, config_.object_workers),
      .max_pending = config_.workers_object_queue};
  workers_ = std::make_unique<WorkerPool>(*external_mail_, config_.workers + config_.object_workers,
                                          budgets);
  if (started_hook_) started_hook_();
  go.count_down();
  RC_LOG(kInfo, "ringcast ready: %u shards on %s:%u, %s descriptors, raw channels %s", size(),
         config_.host.c_str(), config_.port, config_.direct_descriptors ? "direct" : "plain",
         config_.raw_channels ? "on" : "off");

  int signal_number = 0;
  do {
    sigwait(&signals, &signal_number);
  } while (HandledReopen(signal_number, tls_));
  RC_LOG(kInfo, "received %s, shutting down (up to %u s)", strsignal(signal_number),
         config_.shutdown_timeout_s);
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(config_.shutdown_timeout_s);
  // Shutdown order: the shards stop accepting and close their connections (1001), waiting up
  // to --shutdown-timeout; as each leaves its loop it closes its inbox (later mail from other
  // threads is refused) and runs what the inbox had accepted. Then the workers stop, then the
  // stopped hook (the chat drains its store: replies are refused, acked work is committed),
  // then mail the shards left for one another runs here.
  StopAll(/*hurry=*/false);
  // Signals stay blocked and are taken here: a second one skips the rest of the graceful wait
  // (connections are closed at once) and the process still exits cleanly; later ones are
  // only logged.
  bool hurried = false;
  while (running.load(std::memory_order_acquire) > 0) {
    timespec poll{0, 100 * 1000 * 1000};
    signal_number = sigtimedwait(&signals, nullptr, &poll);
    if (signal_number <= 0 || HandledReopen(signal_number, tls_)) continue;
    if (hurried) {
      RC_LOG(kWarn, "received %s again: already closing every connection",
             strsignal(signal_number));
      continue;
    }
    RC_LOG(kWarn, "received %s during shutdown: closing every connection now",
           strsignal(signal_number));
    hurried = true;
    deadline = std::chrono::steady_clock::now();
    StopAll(/*hurry=*/true);
  }
  for (std::thread& thread : threads) thread.join();
  workers_->Stop();
  if (stopped_hook_) stopped_hook_(deadline);
  // A shard may have posted to one that had already left its loop; that mail owns frames and
  // names. Deliver it now, single-threaded, so nothing leaks (targets have no connections left).
  for (auto& shard : shards_) shard->DeliverLeftoverMail();
  RC_LOG(kInfo, "bye");
  return 0;
}

void ShardSet::StopAll(bool hurry) {
  // A throwaway ring of our own lets this thread wake shards with MSG_RING like any shard does.
  io_uring ring;
  bool have_ring = io_uring_queue_init(8, &ring, 0) == 0;
  for (auto& shard : shards_) {
    shard->RequestStop(hurry);
    if (!have_ring) continue;  // Shards also notice the flag at their next timer tick.
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_msg_ring(sqe, shard->ring_fd(), 0, Shard::WakeupTag(), 0);
    io_uring_submit_and_wait(&ring, 1);
    io_uring_cqe* cqe;
    if (io_uring_peek_cqe(&ring, &cqe) == 0) io_uring_cqe_seen(&ring, cqe);
  }
  if (have_ring) io_uring_queue_exit(&ring);
}

}  // namespace ringcast
