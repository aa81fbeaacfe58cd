// Minimal leveled logging to stderr: one line per call, written with a single write(2) so lines
// from different shards never interleave. Not for the per-message hot path.
#pragma once

#include <cstdarg>

namespace ringcast {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, const char* format, ...) __attribute__((format(printf, 2, 3)));

#define RC_LOG(level, ...)                                       \
  do {                                                           \
    if (::ringcast::LogEnabled(::ringcast::LogLevel::level)) {   \
      ::ringcast::Log(::ringcast::LogLevel::level, __VA_ARGS__); \
    }                                                            \
  } while (0)

// Invariant checks: CHECK always, DCHECK in debug builds only. A failed check logs and aborts.
[[noreturn]] void CheckFailed(const char* file, int line, const char* expression);
#define CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::ringcast::CheckFailed(__FILE__, __LINE__, #cond))
#ifdef NDEBUG
#define DCHECK(cond) static_cast<void>(0)
#else
#define DCHECK(cond) CHECK(cond)
#endif

}  // namespace ringcast
