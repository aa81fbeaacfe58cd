// SqliteChatStore::Submit, shared by the files that implement SqliteChatStore's operations
// (sqlite_chat_store.cc, sqlite_notify_store.cc). Internal to the SQLite backend.
#pragma once

#include <memory>
#include <utility>

#include "storage/sqlite_chat_store.h"

namespace ringcast::storage {

template <typename T, typename Run>
void SqliteChatStore::Submit(Kind kind, Run run, Reply<T> reply) {
  // Shared by the job, its completion, and this frame (which answers a refused job itself).
  struct State {
    T out;
    Reply<T> reply;
  };
  auto state = std::make_shared<State>();
  state->reply = std::move(reply);
  JobFn job = [state, run = std::move(run)](SqliteDb& db) mutable -> Status {
    state->out = T{};  // A job may run again after a failed batch: start from nothing.
    return run(db, state->out);
  };
  DoneFn done = [state](Status status) {
    if (status.ok()) {
      state->reply(Result<T>(std::move(state->out)));
    } else {
      state->reply(Result<T>(std::move(status)));
    }
  };
  Admission admission = kind == Kind::kRead
                            ? executor_->SubmitRead(std::move(job), std::move(done))
                            : executor_->Submit(std::move(job), std::move(done),
                                                kind == Kind::kSingleWrite ? Isolation::kSingleWrite
                                                                           : Isolation::kSavepoint);
  if (admission == Admission::kQueued) return;
  state->reply(
      Result<T>(Status(admission == Admission::kQueueFull ? Errc::kQueueFull : Errc::kStopped,
                       "the store is not accepting work")));
}

}  // namespace ringcast::storage
