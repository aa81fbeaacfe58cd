// Running one ChatStore operation as a BatchExecutor job, for every file of the SQLite backend
// (SqliteChatStore::Submit is this): the job fills a T, its completion replies with it or with
// the Status that stopped it.
#pragma once

#include <memory>

#include "storage/batch_executor.h"
#include "storage/chat_store.h"
#include "storage/sqlite_db.h"

namespace ringcast::storage {

// kWrite: group-committed, in a savepoint of the batch; kSingleWrite: a transaction of its own.
enum class SqliteJobKind : uint8_t { kRead, kWrite, kSingleWrite };

template <typename T, typename Run>
void SubmitSqliteJob(BatchExecutor& executor, SqliteJobKind kind, Run run, Reply<T> reply) {
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
  Admission admission =
      kind == SqliteJobKind::kRead
          ? executor.SubmitRead(std::move(job), std::move(done))
          : executor.Submit(std::move(job), std::move(done),
                            kind == SqliteJobKind::kSingleWrite ? Isolation::kSingleWrite
                                                                : Isolation::kSavepoint);
  if (admission == Admission::kQueued) return;
  state->reply(
      Result<T>(Status(admission == Admission::kQueueFull ? Errc::kQueueFull : Errc::kStopped,
                       "the store is not accepting work")));
}

// Calls `row(stmt)` for each row of `stmt`; returns the step error, if any.
template <typename RowFn>
Status ForEachSqliteRow(Statement& stmt, RowFn row) {
  for (;;) {
    switch (stmt.Step()) {
      case StepResult::kRow:
        row(stmt);
        break;
      case StepResult::kDone:
      case StepResult::kError:
        return stmt.status();
    }
  }
}

// Whether `stmt` answers any row: an existence probe, or a write whose RETURNING matched.
inline Result<bool> AnySqliteRow(Statement& stmt) {
  bool found = false;
  if (Status s = ForEachSqliteRow(stmt, [&](Statement&) { found = true; }); !s.ok()) return s;
  return found;
}

}  // namespace ringcast::storage
