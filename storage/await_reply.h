// Waiting for a store reply on a thread of one's own: the notifier, the email digests, the upload
// sweeper, the Web Push sink, and the main thread at start. Never on a shard, which must not
// block (its replies come back as mail: chat/service.h, ReplyOn).
#pragma once

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "storage/store_types.h"

namespace ringcast::storage {

// Runs `call(reply)` and waits for the reply. A store answers every call, also while it stops
// (kStopped), so this returns.
template <typename T, typename Call>
Result<T> AwaitReply(Call call) {
  std::promise<Result<T>> answered;
  auto answer = answered.get_future();
  call(Reply<T>([&answered](Result<T> result) { answered.set_value(std::move(result)); }));
  return answer.get();
}

// The same, giving up after `timeout` (nullopt): a reply that comes later finds nobody waiting
// and is dropped.
template <typename T, typename Call>
std::optional<Result<T>> AwaitReply(Call call, std::chrono::milliseconds timeout) {
  struct State {
    std::mutex mutex;
    std::condition_variable ready;
    std::optional<Result<T>> result;
  };
  auto state = std::make_shared<State>();
  call(Reply<T>([state](Result<T> result) {
    std::lock_guard lock(state->mutex);
    state->result.emplace(std::move(result));
    state->ready.notify_all();
  }));
  std::unique_lock lock(state->mutex);
  if (!state->ready.wait_for(lock, timeout, [&] { return state->result.has_value(); })) {
    return std::nullopt;
  }
  return std::move(state->result);
}

}  // namespace ringcast::storage
