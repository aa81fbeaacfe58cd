#include "core/log.h"

#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace ringcast {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
constexpr const char* kLevelNames[] = {"debug", "info", "warn", "error"};
}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void Log(LogLevel level, const char* format, ...) {
  char line[1024];
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc;
  gmtime_r(&now.tv_sec, &utc);
  int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                   utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                   utc.tm_sec, now.tv_nsec / 1000000, kLevelNames[static_cast<int>(level)]);
  va_list args;
  va_start(args, format);
  int m = vsnprintf(line + n, sizeof(line) - n - 1, format, args);
  va_end(args);
  size_t size = n + (m < 0 ? 0 : std::min<size_t>(m, sizeof(line) - n - 2));
  line[size++] = '\n';
  ssize_t written = ::write(STDERR_FILENO, line, size);
  (void)written;  // Nowhere to report a failed log write.
}

void CheckFailed(const char* file, int line, const char* expression) {
  Log(LogLevel::kError, "CHECK failed at %s:%d: %s", file, line, expression);
  abort();
}

}  // namespace ringcast
