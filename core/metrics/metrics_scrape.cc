#include "core/metrics/metrics_scrape.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <vector>

#include "core/metrics/metric_set.h"
#include "core/runtime/shard.h"
#include "core/runtime/shard_set.h"
#include "core/version.h"

namespace ringcast {
namespace {

// When this process started, for uptime and process_start_time_seconds.
const std::chrono::steady_clock::time_point kStartedAt = std::chrono::steady_clock::now();
const double kStartedAtWall = double(std::time(nullptr));

// From /proc (memory-backed: nothing here waits on a disk), like the Prometheus clients'
// process collectors.
void AddProcessMetrics(MetricSet& out) {
  const double page = double(sysconf(_SC_PAGESIZE));
  if (FILE* statm = std::fopen("/proc/self/statm", "re")) {
    unsigned long long size = 0;
    unsigned long long resident = 0;
    if (std::fscanf(statm, "%llu %llu", &size, &resident) == 2) {
      out.Gauge("process_resident_memory_bytes", "Resident memory size in bytes",
                double(resident) * page);
      out.Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes",
                double(size) * page);
    }
    std::fclose(statm);
  }
  if (DIR* fds = opendir("/proc/self/fd")) {
    double open = 0;
    while (const dirent* entry = readdir(fds)) {
      if (entry->d_name[0] != '.') ++open;
    }
    closedir(fds);
    out.Gauge("process_open_fds", "Open file descriptors (the listing's own included)", open);
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    out.Gauge("process_max_fds", "Maximum number of open file descriptors", double(limit.rlim_cur));
  }
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    const double cpu = double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                       double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    out.Counter("process_cpu_seconds_total", "User and system CPU time spent in seconds", cpu);
  }
  out.Gauge("process_start_time_seconds", "Start time of the process since the Unix epoch",
            kStartedAtWall);
  out.Gauge("ringcast_uptime_seconds", "Seconds since the process started (monotonic clock)",
            std::chrono::duration<double>(std::chrono::steady_clock::now() - kStartedAt).count());
  out.Gauge("ringcast_build_info", "Always 1; the labels name the build", 1,
            {{"version", kVersion}, {"commit", kCommit}});
}

// One scrape in flight. References: one per shard asked (its Collect mail), one for whoever
// takes the result (the answer mail, or the waiting thread).
class Scrape {
 public:
  static constexpr uint32_t kNoShard = UINT32_MAX;

  Scrape(ShardSet& set, uint32_t origin, DeferredHttp deferred)
      : set_(set),
        origin_(origin),
        deferred_(deferred),
        parts_(set.size()),
        pending_(set.size()),
        refs_(set.size() + 1) {}

  static void Collect(Shard& shard, const Mail& mail) {
    auto* scrape = static_cast<Scrape*>(mail.ptr);
    shard.CollectMetrics(scrape->parts_[shard.id()]);
    scrape->PartDone(&shard, /*collected=*/true);
  }

  // A shard's part is over, collected or refused (`current`: the shard running this, if any).
  void PartDone(Shard* current, bool collected) {
    if (!collected) incomplete_.store(true, std::memory_order_relaxed);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) Finish(current);
    Release();
  }

  // The waiting thread's side (origin kNoShard).
  std::optional<std::string> Wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::optional<std::string> result;
    if (done_.wait_for(lock, timeout, [this] { return finished_; })) result = std::move(text_);
    lock.unlock();
    Release();
    return result;
  }

  void Release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  void Finish(Shard* current) {
    MetricSet total;
    for (const MetricSet& part : parts_) total.Merge(part);
    AddProcessMetrics(total);
    for (const auto& source : set_.metrics_sources()) source(total);
    total.Gauge("ringcast_shards", "Shards (event-loop threads)", double(parts_.size()));
    total.Gauge("ringcast_scrape_incomplete",
                "1 when some shard did not answer this scrape: its figures are missing",
                incomplete_.load(std::memory_order_relaxed) ? 1 : 0);
    std::string text = total.Render();
    if (origin_ == kNoShard) {
      std::lock_guard lock(mutex_);
      text_ = std::move(text);
      finished_ = true;
      done_.notify_one();
      return;
    }
    text_ = std::move(text);
    // Answered by mail even on the origin itself: never from inside the request's OnRequest.
    if (current == nullptr || !current->Post(origin_, Mail{&Scrape::Answer, this})) Release();
  }

  static void Answer(Shard& shard, const Mail& mail) {
    auto* scrape = static_cast<Scrape*>(mail.ptr);
    shard.AnswerDeferred(scrape->deferred_, 200, kMetricsContentType, scrape->text_);
    scrape->Release();
  }

  ShardSet& set_;
  const uint32_t origin_;
  const DeferredHttp deferred_;
  std::vector<MetricSet> parts_;  // parts_[i]: written by shard i only.
  std::atomic<uint32_t> pending_;
  std::atomic<uint32_t> refs_;
  std::atomic<bool> incomplete_{false};
  std::mutex mutex_;
  std::condition_variable done_;
  bool finished_ = false;
  std::string text_;
};

}  // namespace

void AnswerMetrics(Shard& origin, const DeferredHttp& deferred) {
  auto* scrape = new Scrape(origin.set(), origin.id(), deferred);
  for (uint32_t target = 0; target < origin.shard_count(); ++target) {
    if (!origin.Post(target, Mail{&Scrape::Collect, scrape})) {
      scrape->PartDone(&origin, /*collected=*/false);
    }
  }
}

std::optional<std::string> CollectMetrics(ShardSet& shards, std::chrono::milliseconds timeout) {
  auto* scrape = new Scrape(shards, Scrape::kNoShard, {});
  for (uint32_t target = 0; target < shards.size(); ++target) {
    if (shards.external_mail().Post(target, Mail{&Scrape::Collect, scrape}) !=
        PushResult::kQueued) {
      scrape->PartDone(nullptr, /*collected=*/false);
    }
  }
  return scrape->Wait(timeout);
}

}  // namespace ringcast
