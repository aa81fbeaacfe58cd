// WorkerPool: threads for work that may block (password hashing, storage reads that miss a
// cache), so that none of it runs on a shard thread.
//
// Owner: ShardSet. A shard hands a task to the pool (a short mutex-guarded queue: this is the
// cold path, taken per login or cache miss, never per message); a worker runs it and sends the
// completion back to the shard that asked as ordinary Mail (external_mail.h). So the result is
// handled on the asking shard's thread, in order with the rest of its mail.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/runtime/external_mail.h"
#include "core/runtime/mailbox.h"

namespace ringcast {

class WorkerPool {
 public:
  // Work done off-shard, then completed on the shard it came from.
  class Task {
   public:
    virtual ~Task() = default;
    virtual void Run() = 0;                    // On a worker thread.
    virtual void Complete(Shard& origin) = 0;  // On the origin shard's thread.
    uint32_t origin = 0;
  };

  WorkerPool(ExternalMail& mail, uint32_t threads);
  ~WorkerPool();  // Stop()s.
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Any shard thread. Takes ownership; the task is deleted after Complete(), or without it when
  // Stop() drops it unrun or its origin shard has stopped by the time it has run.
  void Submit(std::unique_ptr<Task> task);

  // Finishes the task each worker is running (its completion is still posted), drops tasks not
  // yet started, and joins. Idempotent.
  void Stop();

  // Convenience: runs `work()` on a worker, then `done(shard, result)` on shard `origin`.
  template <typename Work, typename Done>
  void Run(uint32_t origin, Work work, Done done);

 private:
  void WorkerMain(uint32_t index);

  ExternalMail& mail_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Task>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

template <typename Work, typename Done>
void WorkerPool::Run(uint32_t origin, Work work, Done done) {
  using Result = std::invoke_result_t<Work&>;
  struct Closure final : Task {
    Closure(Work w, Done d) : work(std::move(w)), done(std::move(d)) {}
    void Run() override { result = work(); }
    void Complete(Shard& shard) override { done(shard, std::move(result)); }
    Work work;
    Done done;
    Result result{};
  };
  auto task = std::make_unique<Closure>(std::move(work), std::move(done));
  task->origin = origin;
  Submit(std::move(task));
}

}  // namespace ringcast
