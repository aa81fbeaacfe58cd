// Storage errors: a backend-neutral code (`Errc`) plus the backend's own code and message.
//
// Every storage call that can fail returns a `Status` (or a `Result<T>`, a value or a Status).
// Callers branch on `errc()` only; `backend_code()` (for SQLite the extended result code) and
// `message()` are for logs. The PostgreSQL backend maps its SQLSTATEs onto the same `Errc`, so
// the chat layer never looks at a backend-specific number. An ok Status holds no string, so
// returning one costs nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace ringcast::storage {

enum class Errc : uint8_t {
  kOk = 0,
  kConstraint,    // UNIQUE / FOREIGN KEY / CHECK / NOT NULL / trigger RAISE: the input is at fault.
  kBusy,          // Lock not acquired within busy_timeout (another process holds the database).
  kReadOnly,      // Write attempted on a read-only connection or file.
  kIo,            // Disk I/O error, disk full, cannot open the file.
  kCorrupt,       // The file is damaged or not a database.
  kSchemaTooNew,  // The database was written by a newer ringcast; refusing to touch it.
  kSchemaForeign,  // The file holds tables that are not ringcast's.
  kMisuse,         // Programming error: bad SQL, bad bind index, forbidden statement in a job.
  kStopped,        // The executor is stopping or stopped; the job did not run.
  kQueueFull,      // Back-pressure: too many writes queued; the job did not run.
  kJobFailed,      // A job reported its own (non-SQL) failure, or threw.
  kUnavailable,    // The database server cannot be reached (or dropped the connection): the
                   // operation did not run, or for a write in flight its outcome is unknown.
  kInternal,       // Anything else.
};

const char* ErrcName(Errc errc);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Errc errc, int backend_code, std::string message)
      : errc_(errc), backend_code_(backend_code), message_(std::move(message)) {}
  Status(Errc errc, std::string message) : Status(errc, 0, std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return errc_ == Errc::kOk; }
  Errc errc() const { return errc_; }
  int backend_code() const { return backend_code_; }
  const std::string& message() const { return message_; }

  // "kConstraint (2067): UNIQUE constraint failed: users.username" — for logs and test output.
  std::string ToString() const;

 private:
  Errc errc_ = Errc::kOk;
  int backend_code_ = 0;
  std::string message_;
};

// A value or the Status that explains its absence. Deliberately tiny (C++20 has no
// std::expected); `value()` on an error is a programming error and aborts via optional.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit, like std::expected.
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit.
    if (status_.ok()) status_ = Status(Errc::kInternal, "Result built from an ok Status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return value_.value(); }
  const T& value() const& { return value_.value(); }
  T&& value() && { return std::move(value_).value(); }
  T* operator->() { return &value_.value(); }
  const T* operator->() const { return &value_.value(); }
  T& operator*() & { return value_.value(); }
  const T& operator*() const& { return value_.value(); }
  T&& operator*() && { return std::move(value_).value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace ringcast::storage
