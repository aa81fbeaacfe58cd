// Leveled logging to stderr, as text or JSON lines (--log-format), and the access log.
//
// Until StartLogging() (and after StopLogging()) each line is one write(2) on the calling thread,
// so the messages of a start that fails are never lost. In between, lines go through a bounded
// LogBuffer (--log-buffer-lines) that a logger thread drains: logging never blocks a shard
// thread; a line that finds the buffer full is dropped, and the logger says how many were in a
// later line. Warnings and errors are rate-limited per call site and shard (LogRateState: one
// line a second, the rest counted). Not for the per-message hot path all the same.
//
// Every RC_LOG line has an event name taken from its call site's file, "<folder>.<file>"
// ("net.connection_io", "chat.service"), and in JSON its source line ("src"), so a line can be
// selected without parsing its message. The thread's shard (SetLogShard) goes in each line.
#pragma once

#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/log_buffer.h"

namespace ringcast {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat : uint8_t { kText, kJson };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
// The format of every line from now on (StartLogging sets it too).
void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();
// The shard whose thread this is (-1: not a shard thread), written in each of its lines.
void SetLogShard(int shard);

struct LogOptions {
  LogFormat format = LogFormat::kText;
  uint32_t buffer_lines = 4096;
  // The access log: "" off, "-" or "stderr" to stderr (among the server's lines), else a file
  // appended to (created 0640 if missing).
  std::string access_log;
};
// Starts the logger thread. False (with *error) when the access log cannot be opened.
bool StartLogging(const LogOptions& options, std::string* error);
// Writes out every line still buffered and stops the logger thread; idempotent, and run at
// exit() too.
void StopLogging();
bool AccessLogEnabled();
// SIGHUP (core/runtime/shard_set.cc): the access log file is opened again by its name, so that
// rotation may rename it and a new one starts; nothing when it is off or stderr. False (with
// *error) when it cannot be opened: the old file is kept.
bool ReopenAccessLog(std::string* error);

// One RC_LOG call site: where it is, and its rate limit for each shard (index shard + 1; 0 for
// threads that are not shards). Constant-initialized, so a function-local static costs no guard.
struct LogSite {
  static constexpr int kStates = 65;  // --threads is at most 64.
  constexpr LogSite(const char* file_name, int line_number) : file(file_name), line(line_number) {}
  const char* file;
  int line;
  LogRateState rate[kStates];
  std::atomic<LogSite*> next_registered{nullptr};  // The logger's list of sites that held back.
  std::atomic<bool> registered{false};
};

void LogAt(LogSite& site, LogLevel level, const char* format, ...)
    __attribute__((format(printf, 3, 4)));
// LogAt's core, with the clock and the buffer passed in (the tests'); `buffer` null: the
// logger's, or a direct write when it is not running. False when the rate limit held it back.
bool LogMessage(LogSite& site, LogLevel level, int64_t now_ns, std::string_view message,
                LogBuffer* buffer);

#define RC_LOG(level, ...)                                                      \
  do {                                                                          \
    if (::ringcast::LogEnabled(::ringcast::LogLevel::level)) {                  \
      static ::ringcast::LogSite rc_log_site{__FILE__, __LINE__};               \
      ::ringcast::LogAt(rc_log_site, ::ringcast::LogLevel::level, __VA_ARGS__); \
    }                                                                           \
  } while (0)

// A line with named fields (the access log), in the configured format: JSON
// {"time":…,"level":…,"shard":…,"event":…,"key":value,…}, or text
// `<time> <level> <event> key=value …` (values with spaces or quotes in double quotes). Built on
// the stack; a line longer than LogBuffer::kMaxLine is cut.
class LogRecord {
 public:
  LogRecord(LogLevel level, std::string_view event);
  LogRecord& Add(std::string_view key, std::string_view value);
  LogRecord& Add(std::string_view key, uint64_t value);
  // A duration in milliseconds with microsecond precision.
  LogRecord& AddMillis(std::string_view key, int64_t nanoseconds);
  void Emit(LogStream stream);
  // The finished line (newline included), for a caller that writes it itself. Once.
  std::string_view Finish();

 private:
  void Append(std::string_view text);
  void AppendKey(std::string_view key);

  char line_[LogBuffer::kMaxLine];
  size_t size_ = 0;
  bool json_;
};

// What the logger thread does with buffered lines, apart from the thread (log.cc runs it; the
// tests drive it by hand): pop every line, hand them to `write` in batches per stream, then
// report the drops and the warnings held back by rate limits.
class LogPump {
 public:
  using Writer = void (*)(void* context, LogStream stream, std::string_view lines);
  LogPump(LogBuffer& buffer, Writer write, void* context)
      : buffer_(buffer), write_(write), context_(context) {}
  // Returns how many buffered lines were written.
  size_t Drain();
  // Reports the lines the full buffer dropped, if any.
  void ReportDrops();
  // Summary lines for call sites that held lines back in an interval now over (monotonic ns).
  void ReportSuppressed(int64_t now_ns);

 private:
  void Flush(LogStream stream, std::string* batch);

  LogBuffer& buffer_;
  Writer write_;
  void* context_;
};

// Invariant checks: CHECK always, DCHECK in debug builds only. A failed check logs (after the
// lines still buffered) and aborts.
[[noreturn]] void CheckFailed(const char* file, int line, const char* expression);
#define CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::ringcast::CheckFailed(__FILE__, __LINE__, #cond))
#ifdef NDEBUG
#define DCHECK(cond) static_cast<void>(0)
#else
#define DCHECK(cond) CHECK(cond)
#endif

}  // namespace ringcast
