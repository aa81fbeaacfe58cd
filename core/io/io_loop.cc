#include "core/io/io_loop.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/runtime/deferred_wakes.h"

namespace ringcast {

std::unique_ptr<IoLoop> IoLoop::Create(Options options, std::string* error) {
  const int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    *error = std::string("eventfd: ") + std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<IoLoop>(new IoLoop(std::move(options), wake_fd));
}

IoLoop::IoLoop(Options options, int wake_fd)
    : options_(std::move(options)), wake_fd_(wake_fd), tasks_(options_.max_tasks) {}

IoLoop::~IoLoop() {
  Stop();
  close(wake_fd_);
}

void IoLoop::Start(Hooks hooks) {
  hooks_ = std::move(hooks);
  thread_ = std::thread([this] { Run(); });
}

void IoLoop::Stop() {
  stop_.store(true, std::memory_order_release);
  WakeNow();
  Join();
}

void IoLoop::Join() {
  if (thread_.joinable()) thread_.join();
}

PushResult IoLoop::Post(const IoTask& task) {
  IoTask item = task;
  const PushResult result = tasks_.TryPush(item, /*overflow_limit=*/0);
  if (result == PushResult::kQueued) Wake();
  return result;
}

void IoLoop::Wake() {
  DeferredWakes::WakeSoon([](void* loop) { static_cast<IoLoop*>(loop)->WakeNow(); }, this);
}

void IoLoop::WakeNow() {
  if (wake_pending_.exchange(true, std::memory_order_seq_cst)) return;
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
}

int IoLoop::Watch(int fd, short events, FdHandler handler) {
  watches_.push_back(Watched{next_watch_, fd, events, std::move(handler)});
  return next_watch_++;
}

void IoLoop::Update(int watch, int fd, short events) {
  for (Watched& w : watches_) {
    if (w.id != watch) continue;
    w.fd = fd;
    w.events = events;
    return;
  }
}

void IoLoop::Unwatch(int watch) {
  std::erase_if(watches_, [watch](const Watched& w) { return w.id == watch; });
}

uint64_t IoLoop::At(Clock::time_point at, std::function<void()> fire) {
  const uint64_t id = next_timer_++;
  timers_.emplace(std::make_pair(at, id), std::move(fire));
  timer_due_.emplace(id, at);
  return id;
}

void IoLoop::Cancel(uint64_t timer) {
  auto due = timer_due_.find(timer);
  if (due == timer_due_.end()) return;
  timers_.erase({due->second, timer});
  timer_due_.erase(due);
}

void IoLoop::Run() {
  pthread_setname_np(pthread_self(), options_.thread_name.c_str());
  if (hooks_.started) hooks_.started();
  while (!quit_ && !stop_.load(std::memory_order_acquire)) {
    // Cleared before taking tasks: a post after this point writes the eventfd again.
    wake_pending_.store(false, std::memory_order_seq_cst);
    RunTasks();
    RunTimers();
    Clock::time_point until = hooks_.turn ? hooks_.turn() : Clock::time_point::max();
    if (quit_) break;
    if (!timers_.empty()) until = std::min(until, timers_.begin()->first.first);
    Wait(until);
  }
  tasks_.Close();
  RunTasks();
  if (hooks_.finished) hooks_.finished();
}

void IoLoop::RunTasks() {
  tasks_.Drain([](IoTask& task) { task.run(task); });
}

void IoLoop::RunTimers() {
  const Clock::time_point now = Clock::now();
  while (!timers_.empty() && timers_.begin()->first.first <= now) {
    auto due = timers_.begin();
    std::function<void()> fire = std::move(due->second);
    timer_due_.erase(due->first.second);
    timers_.erase(due);
    fire();
  }
}

void IoLoop::Wait(Clock::time_point until) {
  int timeout = -1;
  if (until != Clock::time_point::max()) {
    const Clock::time_point now = Clock::now();
    // Rounded up, so that a wake-up is never early (which would spin).
    timeout =
        until <= now
            ? 0
            : int(std::min<int64_t>(
                  std::chrono::ceil<std::chrono::milliseconds>(until - now).count(), INT32_MAX));
  }
  if (!tasks_.Empty()) timeout = 0;
  pollfds_.clear();
  polled_.clear();
  pollfds_.push_back({wake_fd_, POLLIN, 0});
  for (const Watched& w : watches_) {
    if (w.fd < 0 || w.events == 0) continue;
    pollfds_.push_back({w.fd, w.events, 0});
    polled_.push_back(w.id);
  }
  if (poll(pollfds_.data(), pollfds_.size(), timeout) <= 0) return;
  if (pollfds_[0].revents & POLLIN) {
    uint64_t count;
    (void)!read(wake_fd_, &count, sizeof count);
  }
  for (size_t i = 0; i < polled_.size(); ++i) {
    const short revents = pollfds_[i + 1].revents;
    if (revents == 0) continue;
    // A handler may have removed or moved this watch (or another): look it up again.
    auto it = std::find_if(watches_.begin(), watches_.end(),
                           [&](const Watched& w) { return w.id == polled_[i]; });
    if (it == watches_.end() || it->fd != pollfds_[i + 1].fd) continue;
    FdHandler handler = it->handler;  // A copy: the handler may unwatch itself.
    handler(revents);
  }
}

}  // namespace ringcast
