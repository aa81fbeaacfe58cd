// WorkerPool: threads for work that may block (password hashing, storage reads that miss a
// cache), so that none of it runs on a shard thread.
//
// Owner: ShardSet. A shard hands a task to the pool (a short mutex-guarded queue: this is the
// cold path, taken per login or cache miss, never per message); a worker runs it and sends the
// completion back to the shard that asked as ordinary Mail (external_mail.h). So the result is
// handled on the asking shard's thread, in order with the rest of its mail.
//
// Work classes (Seastar's scheduling groups, in small): one queue per class, each with a budget
// (WorkBudget): at most `max_pending` tasks queued or running (TrySubmit refuses more and the
// route answers 503, so one kind of work cannot fill the pool's memory or starve the others)
// and at most `max_running` on workers at once. The budgets are flags (README, "Workers"):
//   kLogin         password checks of logins            --workers-login-queue
//   kRegistration  password hashes of new accounts      --max-pending-registrations, and on at
//                                                        most half the workers
//   kMedia         thumbnails of uploaded images        --workers-media-queue
//   kFileRead      static files read from disk          --workers-file-queue
//   kFileCommit    fsync/rename/unlink of stored files  none: never refused, because each one
//                  finishes work already admitted (an upload the store has recorded); they are
//                  as many as the uploads the other bounds let through.
//   kObjectStore   requests to the object store         --workers-object-queue, and on at most
//                  (--files-url: parts, commits,         --s3-workers threads of their own
//                  download windows)                     (added to the pool: each waits on the
//                                                        network, up to --s3-timeout)
// Workers take the oldest task they may run, so no class overtakes another.
#pragma once

#include <array>
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
  kLogin,
  kRegistration,
  kMedia,
  kFileRead,
  kFileCommit,
  kObjectStore
};
inline constexpr size_t kWorkClasses = 6;

struct WorkBudget {
  uint32_t max_running = UINT32_MAX;  // Tasks of the class on workers at once.
  uint32_t max_pending = UINT32_MAX;  // Queued or running; past it TrySubmit refuses.
};
// Indexed by WorkClass.
using WorkBudgets = std::array<WorkBudget, kWorkClasses>;

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

  WorkerPool(ExternalMail& mail, uint32_t threads, const WorkBudgets& budgets);
  ~WorkerPool();  // Stop()s.
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Any shard thread. Takes ownership; the task is deleted after Complete(), or without it when
  // Stop() drops it unrun or its origin shard has stopped by the time it has run. False (and
  // the task dropped unrun) when its class already has its budget's max_pending tasks.
  bool TrySubmit(WorkClass work_class, std::unique_ptr<Task> task);

  // Finishes the task each worker is running (its completion is still posted), drops tasks not
  // yet started, and joins. Idempotent.
  void Stop();

  // Convenience: runs `work()` on a worker, then `done(shard, result)` on shard `origin`; false
  // when the class's budget refused it (`done` is then never called).
  template <typename Work, typename Done>
  bool TryRun(WorkClass work_class, uint32_t origin, Work work, Done done);

 private:
  struct Queued {
    uint64_t order;  // Submission order over every class: the oldest runnable task goes first.
    std::unique_ptr<Task> task;
  };
  struct ClassQueue {
    WorkBudget budget;
    std::deque<Queued> queued;
    uint32_t running = 0;
    bool Runnable() const { return !queued.empty() && running < budget.max_running; }
  };
  void WorkerMain(uint32_t index);
  // Under mutex_: the class whose head a free worker should take (the oldest runnable), or
  // null when none may run now.
  ClassQueue* Next();

  ExternalMail& mail_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::array<ClassQueue, kWorkClasses> classes_;
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
