// IoLoop: the one shape of every thread that is not a shard and waits on sockets: the Redis
// bus, the PostgreSQL pipeline and the metrics server (docs/architecture.md, "Threads").
//
// One thread of its own runs turns of: tasks posted from other threads, due timers, the
// owner's per-turn work (`Hooks::turn`), then poll(2) over the watched descriptors and an
// eventfd, until the next timer or the deadline the turn asked for. Everything registered
// (watches, timers) belongs to the loop thread: only Post(), Wake(), WakeNow() and Stop() may
// be called from other threads.
//
// Tasks: a bounded MPSC queue (mpsc_inbox.h) of IoTask, a function pointer and three words, so
// posting never allocates and never waits: a full queue answers kFull and the task stays with
// its poster, who refuses the work in its own terms (the pipeline fails the job, the bus drops
// the publication and announces it missed). A wake-up asked for on a thread that holds a
// DeferredWakes (a shard) is given once at the end of that thread's loop turn, so one shard
// turn's tasks arrive together (deferred_wakes.h has the measurements behind it).
//
// Wake-ups: at most one eventfd write per turn of the loop; a poster that finds one pending
// writes nothing (the loop clears the flag before taking tasks, so nothing posted after that
// can be missed).
//
// Why not the shards' io_uring: hiredis and libpq hand us plain non-blocking sockets whose
// readiness, not completions, drives their parsers, and these threads carry a few sockets at
// tens of thousands of events a second at most; poll(2) costs nothing there and needs no
// kernel feature to probe.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/runtime/mpsc_inbox.h"

namespace ringcast {

// Work for the loop thread: `run(task)` runs there; `ptr` is owned by the task until then
// (when a post is refused, by the poster).
struct IoTask {
  void (*run)(const IoTask& task) = nullptr;
  void* ptr = nullptr;
  uint64_t a = 0;
  uint64_t b = 0;
};

class IoLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using FdHandler = std::function<void(short revents)>;

  struct Options {
    std::string thread_name;  // 15 characters at most (pthread_setname_np).
    size_t max_tasks = 1024;  // Tasks queued and not yet run; past it Post() answers kFull.
  };
  struct Hooks {
    // Once per turn on the loop thread, after tasks and timers: the owner's work. Returns the
    // latest time the next turn must start (Clock::time_point::max(): only on an event).
    std::function<Clock::time_point()> turn;
    // On the loop thread as it starts, and once after its last turn.
    std::function<void()> started;
    std::function<void()> finished;
  };

  // Null, with `error` set, when the eventfd cannot be made.
  static std::unique_ptr<IoLoop> Create(Options options, std::string* error);
  ~IoLoop();  // Stop()s.
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  // Starts the thread. Watches and timers may be added before (from the creating thread).
  void Start(Hooks hooks);
  // Any thread but the loop's: ends the loop after its current turn and joins it. Idempotent.
  void Stop();
  // The loop thread: ends the loop after this turn (an owner that drains before it stops says
  // when it is done), then Join() from the thread that started it.
  void Quit() { quit_ = true; }
  void Join();
  // Once the loop has ended, tasks queued meanwhile have run and Post() answers kClosed.

  // Any thread. kQueued: the task runs on the loop thread (tasks from one thread run in the
  // order posted), the wake-up deferred as above. kFull / kClosed: refused, the task is the
  // caller's again.
  [[nodiscard]] PushResult Post(const IoTask& task);
  // Any thread: one more turn soon (deferred on a shard) or now.
  void Wake();
  void WakeNow();

  // Loop thread (or before Start). `events` as poll(2)'s; 0 or fd -1 leaves it out of the poll.
  // The handler may change or remove any watch, its own included.
  int Watch(int fd, short events, FdHandler handler);
  void Update(int watch, int fd, short events);
  void Unwatch(int watch);

  // Loop thread (or before Start): `fire` runs once at or after `at`, unless cancelled.
  uint64_t At(Clock::time_point at, std::function<void()> fire);
  void Cancel(uint64_t timer);

  bool on_loop_thread() const { return std::this_thread::get_id() == thread_.get_id(); }
  size_t max_tasks() const { return tasks_.capacity(); }

 private:
  struct Watched {
    int id;
    int fd;
    short events;
    FdHandler handler;
  };

  IoLoop(Options options, int wake_fd);
  void Run();
  void RunTasks();
  void RunTimers();
  void Wait(Clock::time_point until);

  const Options options_;
  const int wake_fd_;
  Hooks hooks_;
  MpscInbox<IoTask> tasks_;
  std::atomic<bool> wake_pending_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;

  // Loop thread only.
  bool quit_ = false;
  int next_watch_ = 0;
  std::vector<Watched> watches_;
  std::vector<pollfd> pollfds_;  // Kept to reuse its memory.
  std::vector<int> polled_;      // The watch behind each pollfds_[i + 1].
  uint64_t next_timer_ = 0;
  std::map<std::pair<Clock::time_point, uint64_t>, std::function<void()>> timers_;
  std::map<uint64_t, Clock::time_point> timer_due_;
};

}  // namespace ringcast
