#include "core/runtime/worker_pool.h"

#include <pthread.h>

#include <cstdio>

#include "core/log.h"
#include "core/runtime/shard.h"

namespace ringcast {
namespace {

void CompleteTask(Shard& shard, const Mail& mail) {
  std::unique_ptr<WorkerPool::Task> task(static_cast<WorkerPool::Task*>(mail.ptr));
  task->Complete(shard);
}

}  // namespace

WorkerPool::WorkerPool(ExternalMail& mail, uint32_t threads, const WorkBudgets& budgets)
    : mail_(mail) {
  for (size_t i = 0; i < kWorkClasses; ++i) classes_[i].budget = budgets[i];
  for (uint32_t i = 0; i < threads; ++i) threads_.emplace_back([this, i] { WorkerMain(i); });
}

WorkerPool::~WorkerPool() { Stop(); }

bool WorkerPool::TrySubmit(WorkClass work_class, std::unique_ptr<Task> task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return true;  // Shutting down: the task is dropped unrun, as documented.
    ClassQueue& queue = classes_[size_t(work_class)];
    if (queue.queued.size() + queue.running >= queue.budget.max_pending) return false;
    queue.queued.push_back({next_order_++, std::move(task)});
  }
  wake_.notify_one();
  return true;
}

WorkerPool::ClassQueue* WorkerPool::Next() {
  ClassQueue* next = nullptr;
  for (ClassQueue& queue : classes_) {
    if (queue.Runnable() &&
        (next == nullptr || queue.queued.front().order < next->queued.front().order)) {
      next = &queue;
    }
  }
  return next;
}

void WorkerPool::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    for (ClassQueue& queue : classes_) queue.queued.clear();
  }
  wake_.notify_all();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

void WorkerPool::WorkerMain(uint32_t index) {
  char name[16];
  snprintf(name, sizeof(name), "worker-%u", index);
  pthread_setname_np(pthread_self(), name);
  while (true) {
    std::unique_ptr<Task> task;
    ClassQueue* queue = nullptr;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this, &queue] { return stopping_ || (queue = Next()) != nullptr; });
      if (stopping_) break;
      task = std::move(queue->queued.front().task);
      queue->queued.pop_front();
      ++queue->running;
    }
    task->Run();
    {
      std::lock_guard lock(mutex_);
      --queue->running;
    }
    // A task waiting for its class's running budget may run now: wake a worker for it (the one
    // woken may be this one, on its next wait).
    wake_.notify_one();
    uint32_t target = task->origin;
    // Refused only once that shard has stopped: nobody waits for the result any more.
    if (mail_.Post(target, Mail{&CompleteTask, task.get()}) == PushResult::kQueued) {
      (void)task.release();  // Now owned by the mail.
    }
  }
}

}  // namespace ringcast
