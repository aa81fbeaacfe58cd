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

WorkerPool::WorkerPool(ExternalMail& mail, uint32_t threads, WorkBudget registration)
    : mail_(mail), registration_budget_(registration) {
  for (uint32_t i = 0; i < threads; ++i) threads_.emplace_back([this, i] { WorkerMain(i); });
}

WorkerPool::~WorkerPool() { Stop(); }

bool WorkerPool::TrySubmit(WorkClass work_class, std::unique_ptr<Task> task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return true;  // Shutting down: the task is dropped unrun, as documented.
    if (work_class == WorkClass::kRegistration) {
      if (registration_.size() + registration_running_ >= registration_budget_.max_pending) {
        return false;
      }
      registration_.push_back({next_order_++, std::move(task)});
    } else {
      general_.push_back({next_order_++, std::move(task)});
    }
  }
  wake_.notify_one();
  return true;
}

bool WorkerPool::RegistrationRunnable() const {
  return !registration_.empty() && registration_running_ < registration_budget_.max_running;
}

void WorkerPool::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    general_.clear();
    registration_.clear();
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
    bool registration = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || AnyRunnable(); });
      if (stopping_) break;
      registration = RegistrationRunnable() &&
                     (general_.empty() || registration_.front().order < general_.front().order);
      std::deque<Queued>& queue = registration ? registration_ : general_;
      task = std::move(queue.front().task);
      queue.pop_front();
      if (registration) ++registration_running_;
    }
    task->Run();
    if (registration) {
      {
        std::lock_guard lock(mutex_);
        --registration_running_;
      }
      // A registration waiting for a budget slot may run now: wake a worker for it (the one
      // woken may be this one, on its next wait).
      wake_.notify_one();
    }
    uint32_t target = task->origin;
    // Refused only once that shard has stopped: nobody waits for the result any more.
    if (mail_.Post(target, Mail{&CompleteTask, task.get()}) == PushResult::kQueued) {
      (void)task.release();  // Now owned by the mail.
    }
  }
}

}  // namespace ringcast
