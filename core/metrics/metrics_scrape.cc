#include "core/metrics/metrics_scrape.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <memory>
#include <vector>

#include "core/metrics/metric_set.h"
#include "core/runtime/external_mail.h"
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

// One scrape in flight. References: one per shard asked (its Collect mail; the last part's
// goes on to the answer), one for whoever answers on time (the origin shard's answer mail, or
// on a loop the deadline timer, which drops it when fired or cancelled).
class Scrape {
 public:
  // Asked from shard `origin`: answered there by mail.
  Scrape(ShardSet& set, uint32_t origin, DeferredHttp deferred)
      : set_(set),
        origin_(origin),
        deferred_(deferred),
        parts_(set.size()),
        pending_(set.size()),
        refs_(set.size() + 1) {}
  // Asked from `loop`: answered there by `done`.
  Scrape(ShardSet& set, IoLoop& loop, ScrapeDone done)
      : set_(set),
        loop_(&loop),
        done_(std::move(done)),
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
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) != 1) return Release();
    if (loop_ != nullptr) {
      // Rendered on the loop, not on this shard; this part's reference rides with the task. A
      // loop that refuses it is stopping or swamped: the deadline answers.
      if (loop_->Post(IoTask{&Scrape::Gathered, this}) != PushResult::kQueued) Release();
      return;
    }
    text_ = Render();
    // Answered by mail even on the origin itself: never from inside the request's OnRequest.
    if (current == nullptr || !current->Post(origin_, Mail{&Scrape::Answer, this})) Release();
    Release();
  }

  // On the loop's thread.
  void StartDeadline(IoLoop::Clock::time_point deadline) {
    std::shared_ptr<Scrape> hold(this, [](Scrape* scrape) { scrape->Release(); });
    timer_ = loop_->At(deadline, [hold] {
      if (hold->answered_) return;
      hold->answered_ = true;
      hold->done_(std::nullopt);
    });
  }

  void Release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  std::string Render() {
    MetricSet total;
    for (const MetricSet& part : parts_) total.Merge(part);
    AddProcessMetrics(total);
    for (const auto& source : set_.metrics_sources()) source(total);
    total.Gauge("ringcast_shards", "Shards (event-loop threads)", double(parts_.size()));
    total.Gauge("ringcast_scrape_incomplete",
                "1 when some shard did not answer this scrape: its figures are missing",
                incomplete_.load(std::memory_order_relaxed) ? 1 : 0);
    return total.Render();
  }

  static void Answer(Shard& shard, const Mail& mail) {
    auto* scrape = static_cast<Scrape*>(mail.ptr);
    shard.AnswerDeferred(scrape->deferred_, 200, kMetricsContentType, scrape->text_);
    scrape->Release();
  }

  // On the loop's thread, once every part is in.
  static void Gathered(const IoTask& task) {
    auto* scrape = static_cast<Scrape*>(task.ptr);
    if (!scrape->answered_) {
      scrape->answered_ = true;
      scrape->loop_->Cancel(scrape->timer_);  // Drops the timer's reference; the task's remains.
      scrape->done_(scrape->Render());
    }
    scrape->Release();
  }

  ShardSet& set_;
  const uint32_t origin_ = 0;
  const DeferredHttp deferred_{};
  IoLoop* const loop_ = nullptr;
  const ScrapeDone done_;
  std::vector<MetricSet> parts_;  // parts_[i]: written by shard i only.
  std::atomic<uint32_t> pending_;
  std::atomic<uint32_t> refs_;
  std::atomic<bool> incomplete_{false};
  std::string text_;  // For Answer: written by the last part, read on the origin after.
  // The loop's thread only.
  bool answered_ = false;
  uint64_t timer_ = 0;
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

void CollectMetrics(ShardSet& shards, ExternalMail& mail, IoLoop& loop,
                    IoLoop::Clock::time_point deadline, ScrapeDone done) {
  auto* scrape = new Scrape(shards, loop, std::move(done));
  scrape->StartDeadline(deadline);
  for (uint32_t target = 0; target < shards.size(); ++target) {
    if (mail.Post(target, Mail{&Scrape::Collect, scrape}) != PushResult::kQueued) {
      scrape->PartDone(nullptr, /*collected=*/false);
    }
  }
}

}  // namespace ringcast
