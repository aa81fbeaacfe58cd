// ShardSet: starts one Shard per thread, wires their mailboxes, and stops them on a signal.
//
// Owner: the main thread. Shards are constructed here but set up and run on their own threads
// (a ring with SINGLE_ISSUER belongs to the thread that creates it); all of them finish setup
// before any starts its loop, so every ring fd is known before the first mail is posted.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "core/config.h"
#include "core/runtime/mailbox.h"
#include "core/runtime/shard.h"
#include "core/runtime/worker_pool.h"

namespace ringcast {

class TlsContext;
namespace cluster {
class ClusterNode;
}

class ShardSet {
 public:
  using AppFactory = std::function<std::unique_ptr<Application>(Shard&)>;

  ShardSet(const Config& config, AppFactory factory);
  ~ShardSet();

  // Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (and every thread it starts
  // afterwards) and ignores SIGPIPE. main() calls it first, before anything starts a thread (the
  // store's), so that only Run() ever takes those signals: a thread with them unblocked would
  // die of the default action on a second SIGTERM during a graceful shutdown, or on a SIGHUP.
  static void BlockHandledSignals();

  // Runs until SIGINT/SIGTERM and a graceful shutdown; returns the process exit status. A
  // second signal during the shutdown closes the remaining connections at once (logged); the
  // shutdown then finishes as usual and the status is still 0.
  int Run();

  Shard& shard(uint32_t index) { return *shards_[index]; }
  WorkerPool& workers() { return *workers_; }
  // For threads that are not shards (storage callbacks and the like) to post to a shard.
  ExternalMail& external_mail() { return *external_mail_; }
  uint32_t size() const { return static_cast<uint32_t>(shards_.size()); }
  // Runs on the main thread once every shard has stopped and the workers are joined, before
  // mail still in the queues is delivered: the place to stop services that post to shards.
  // `deadline` is when --shutdown-timeout, counted from the signal, runs out (now, after a
  // second signal): what the services still have to finish should fit in what is left of it.
  using StoppedHook = std::function<void(std::chrono::steady_clock::time_point deadline)>;
  void SetStoppedHook(StoppedHook hook) { stopped_hook_ = std::move(hook); }
  // Runs on the main thread once every shard is set up and mail can be posted to it, before
  // any shard runs its loop: the place to start services that post to shards (the cluster
  // bus).
  void SetStartedHook(std::function<void()> hook) { started_hook_ = std::move(hook); }
  // --tls-cert's certificate (the caller keeps it alive): the shards listen on --tls-port too,
  // and SIGHUP reads the files again.
  void SetTls(TlsContext* tls) { tls_ = tls; }
  TlsContext* tls() const { return tls_; }
  // Before Run: figures of the whole node (the store's, the Redis bus's) that every scrape adds
  // (metrics_scrape.h). `source` runs on whichever thread renders a scrape: it must only read
  // what is safe to read from any thread.
  void AddMetricsSource(std::function<void(MetricSet&)> source) {
    metrics_sources_.push_back(std::move(source));
  }
  const std::vector<std::function<void(MetricSet&)>>& metrics_sources() const {
    return metrics_sources_;
  }
  // Cluster mode: this node's link to the others (null: a single node). Set before Run().
  void SetCluster(cluster::ClusterNode* node) { cluster_ = node; }
  cluster::ClusterNode* cluster() const { return cluster_; }

  // Shutdown, from the shards (Shard::ReadyToLeave): a shard whose connections are gone and
  // whose application has nothing in flight marks itself quiet, once; the shards leave their
  // loops only when all are quiet, so that what one posts another while closing its
  // connections still runs there.
  void MarkQuiet() { quiet_shards_.fetch_add(1, std::memory_order_acq_rel); }
  bool AllQuiet() const { return quiet_shards_.load(std::memory_order_acquire) == size(); }

 private:
  void StopAll(bool hurry);

  const Config& config_;
  AppFactory factory_;
  MailboxMatrix mailboxes_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unique_ptr<ExternalMail> external_mail_;  // Built once the shards' rings exist.
  std::unique_ptr<WorkerPool> workers_;
  StoppedHook stopped_hook_;
  std::function<void()> started_hook_;
  TlsContext* tls_ = nullptr;
  cluster::ClusterNode* cluster_ = nullptr;
  std::vector<std::function<void(MetricSet&)>> metrics_sources_;
  std::atomic<uint32_t> quiet_shards_{0};
};

}  // namespace ringcast
