#include "core/runtime/worker_pool.h"

#include <liburing.h>
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

WorkerPool::WorkerPool(MailboxMatrix& mailboxes, std::vector<int> ring_fds, uint32_t threads)
    : mailboxes_(mailboxes), ring_fds_(std::move(ring_fds)) {
  CHECK(mailboxes.sources() >= mailboxes.shards() + threads);
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
  const uint32_t source = mailboxes_.shards() + index;
  // A small ring of our own, only to post MSG_RING wakeups into shards' rings.
  io_uring ring;
  bool have_ring = io_uring_queue_init(8, &ring, 0) == 0;
  if (!have_ring)
    RC_LOG(kWarn, "worker %u: no io_uring; shards see results at their next tick", index);
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
    Mail mail{&CompleteTask, task.release()};
    // The queue only fills if its shard is stalled; a worker may wait, a shard never does.
    while (!mailboxes_.Queue(source, target).TryPush(Mail(mail))) std::this_thread::yield();
    if (have_ring && !mailboxes_.Doorbell(target).exchange(true)) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);
      io_uring_prep_msg_ring(sqe, ring_fds_[target], 0, Shard::WakeupTag(), 0);
      io_uring_submit_and_wait(&ring, 1);
      io_uring_cqe* cqe;
      if (io_uring_peek_cqe(&ring, &cqe) == 0) io_uring_cqe_seen(&ring, cqe);
    }
  }
  if (have_ring) io_uring_queue_exit(&ring);
}

}  // namespace ringcast
