// WorkerPool: threads for work that may block (password hashing, storage reads that miss a
// cache), so that none of it runs on a shard thread.
//
// Owner: ShardSet. A shard hands a task to the pool (a short mutex-guarded queue: this is the
// cold path, taken per login or cache miss, never per message); a worker runs it and sends the
// completion back to the shard that asked as ordinary Mail (external_mail.h). So the result is
// handled on the asking shard's thread, in order with the rest of its mail.
//
// Work classes (Seastar's scheduling groups, in small): kGeneral has no budget of its own. The
// chat's new-account password hashes are kRegistration, which any client can ask for without an
// account: at most `registration.max_running` of them run at once, so the other workers stay
// free for logins and file reads however many registrations wait, and at most
// `registration.max_pending` are queued or running (TrySubmit refuses more; the route answers
// 503). Workers take the oldest task they may run, so neither class overtakes the other.
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

enum class WorkClass : uint8_t {
  kGeneral,       // Logins' password checks, file reads, thumbnails: no budget of their own.
  kRegistration,  // Password hashes of new accounts: a budget (WorkBudget).
};

struct WorkBudget {
  uint32_t max_running = 1;  // Tasks of the class on workers at once.
  uint32_t max_pending = 1;  // Tasks of the class queued or running; past it TrySubmit refuses.
};

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

  WorkerPool(ExternalMail& mail, uint32_t threads, WorkBudget registration);
  ~WorkerPool();  // Stop()s.
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Any shard thread. Takes ownership; the task is deleted after Complete(), or without it when
  // Stop() drops it unrun or its origin shard has stopped by the time it has run.
  void Submit(std::unique_ptr<Task> task) { (void)TrySubmit(WorkClass::kGeneral, std::move(task)); }
  // As Submit, for a task of `work_class`: false (and the task dropped unrun) when its class
  // already has its budget's max_pending tasks. kGeneral is never refused.
  bool TrySubmit(WorkClass work_class, std::unique_ptr<Task> task);

  // Finishes the task each worker is running (its completion is still posted), drops tasks not
  // yet started, and joins. Idempotent.
  void Stop();

  // Convenience: runs `work()` on a worker, then `done(shard, result)` on shard `origin`.
  // TryRun: the same for a task of `work_class`; false when its budget refused it (`done` is
  // then never called).
  template <typename Work, typename Done>
  void Run(uint32_t origin, Work work, Done done) {
    (void)TryRun(WorkClass::kGeneral, origin, std::move(work), std::move(done));
  }
  template <typename Work, typename Done>
  bool TryRun(WorkClass work_class, uint32_t origin, Work work, Done done);

 private:
  struct Queued {
    uint64_t order;  // Submission order over both classes: the oldest runnable task goes first.
    std::unique_ptr<Task> task;
  };
  void WorkerMain(uint32_t index);
  // Under mutex_: the class whose head a free worker should take, if any may run now.
  bool RegistrationRunnable() const;
  bool AnyRunnable() const { return !general_.empty() || RegistrationRunnable(); }

  ExternalMail& mail_;
  const WorkBudget registration_budget_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Queued> general_;
  std::deque<Queued> registration_;
  uint32_t registration_running_ = 0;
  uint64_t next_order_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

template <typename Work, typename Done>
bool WorkerPool::TryRun(WorkClass work_class, uint32_t origin, Work work, Done done) {
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
  return TrySubmit(work_class, std::move(task));
}

}  // namespace ringcast
