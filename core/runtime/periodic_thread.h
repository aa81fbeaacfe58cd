// A background thread that runs a pass every interval until it is stopped: the notifier's polls,
// the email digests, the upload sweeps. The wait is on the steady clock and Stop() cuts it short;
// a long pass checks stopping() between its steps (each may wait on the store or the network).
// Owner: whoever calls Start(); Stop() (or the destructor) joins, from any other thread.
#pragma once

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace ringcast {

class PeriodicThread {
 public:
  PeriodicThread() = default;
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;
  ~PeriodicThread() { Stop(); }

  // The interval of a pass that looks for what has waited `age` (uploads past their TTL,
  // messages unread past the digest delay): a quarter of it, so that what is due waits at most a
  // quarter longer, within 1 s to 60 s.
  static std::chrono::milliseconds QuarterOf(std::chrono::milliseconds age) {
    return std::clamp<std::chrono::milliseconds>(age / 4, std::chrono::seconds(1),
                                                 std::chrono::seconds(60));
  }

  // `pass` first runs one interval after Start; returning false ends the thread. `name` (at most
  // 15 characters) is what top and perf show.
  void Start(std::string name, std::chrono::milliseconds interval, std::function<bool()> pass) {
    thread_ = std::thread([this, name = std::move(name), interval, pass = std::move(pass)] {
      pthread_setname_np(pthread_self(), name.c_str());
      for (;;) {
        {
          std::unique_lock lock(mutex_);
          if (wake_.wait_for(lock, interval, [this] { return stopping_; })) return;
        }
        if (!pass()) return;
      }
    });
  }

  // Idempotent.
  void Stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  bool stopping() const {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // Under mutex_.
  std::thread thread_;
};

}  // namespace ringcast
