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

WorkerPool::WorkerPool(ExternalMail& mail, uint32_t threads) : mail_(mail) {
  for (uint32_t i = 0; i < threads; ++i) threads_.emplace_back([this, i] { WorkerMain(i); });
}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Submit(std::unique_ptr<Task> task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;  // Shutting down: the task is dropped unrun.
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
}

void WorkerPool::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    tasks_.clear();
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
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) break;  // Stopping.
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task->Run();
    uint32_t target = task->origin;
    // Refused only once that shard has stopped: nobody waits for the result any more.
    if (mail_.Post(target, Mail{&CompleteTask, task.get()}) == PushResult::kQueued) {
      (void)task.release();  // Now owned by the mail.
    }
  }
}

}  // namespace ringcast
