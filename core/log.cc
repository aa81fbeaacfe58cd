#include "core/log.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace ringcast {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<LogFormat> g_format{LogFormat::kText};
thread_local int g_shard = -1;
constexpr const char* kLevelNames[] = {"debug", "info", "warn", "error"};
// Call sites that have held lines back, for LogPump::ReportSuppressed (pushed once each, never
// removed: sites are static).
std::atomic<LogSite*> g_suppressing_sites{nullptr};

int64_t MonotonicNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

// 2026-11-22T18:27:27.123Z: wall-clock time, for people and log shippers.
std::string_view FormatTime(char (&out)[32]) {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc;
  gmtime_r(&now.tv_sec, &utc);
  int n = snprintf(out, sizeof(out), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", utc.tm_year + 1900,
                   utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                   now.tv_nsec / 1000000);
  return {out, static_cast<size_t>(std::clamp(n, 0, int(sizeof(out)) - 1))};
}

// "core/net/connection_io.cc" → "net.connection_io": the call site's folder and file.
std::string_view EventOf(const char* file, char (&out)[64]) {
  std::string_view path(file);
  size_t last = path.rfind('/');
  std::string_view name = last == std::string_view::npos ? path : path.substr(last + 1);
  std::string_view folder;
  if (last != std::string_view::npos && last > 0) {
    size_t before = path.rfind('/', last - 1);
    folder = path.substr(before == std::string_view::npos ? 0 : before + 1,
                         last - (before == std::string_view::npos ? 0 : before + 1));
  }
  name = name.substr(0, name.find('.'));
  size_t size = 0;
  auto put = [&](std::string_view part) {
    size_t n = std::min(part.size(), sizeof(out) - 1 - size);
    std::memcpy(out + size, part.data(), n);
    size += n;
  };
  if (!folder.empty()) {
    put(folder);
    put(".");
  }
  put(name);
  return {out, size};
}

std::string_view BaseName(const char* file) {
  std::string_view path(file);
  size_t last = path.rfind('/');
  return last == std::string_view::npos ? path : path.substr(last + 1);
}

// A bounded line under construction: appends past the capacity are cut.
struct LineBuilder {
  char* data;
  size_t capacity;
  size_t size = 0;

  void Put(std::string_view text) {
    size_t n = std::min(text.size(), capacity - size);
    std::memcpy(data + size, text.data(), n);
    size += n;
  }
  void PutNumber(long long value) {
    char digits[24];
    int n = snprintf(digits, sizeof(digits), "%lld", value);
    Put({digits, static_cast<size_t>(n)});
  }
  // A JSON string, quotes included (RFC 8259 §7: ", \ and control characters escaped).
  // Cut (size == capacity, the closing quote left to the caller) rather than split an escape.
  void PutJsonString(std::string_view text) {
    Put("\"");
    for (char c : text) {
      char escaped[8];
      std::string_view piece;
      switch (c) {
        case '"':
          piece = "\\\"";
          break;
        case '\\':
          piece = "\\\\";
          break;
        case '\n':
          piece = "\\n";
          break;
        case '\t':
          piece = "\\t";
          break;
        case '\r':
          piece = "\\r";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            snprintf(escaped, sizeof(escaped), "\\u%04x", static_cast<unsigned>(c));
            piece = escaped;
          } else {
            piece = {&c, 1};
          }
      }
      if (piece.size() > capacity - size) {
        size = capacity;
        return;
      }
      Put(piece);
    }
    Put("\"");
  }
  // JSON: the time, level, shard and event members, object left open.
  void PutJsonHead(LogLevel level, int shard, std::string_view event) {
    char time[32];
    Put("{\"time\":\"");
    Put(FormatTime(time));
    Put("\",\"level\":\"");
    Put(kLevelNames[static_cast<int>(level)]);
    Put("\"");
    if (shard >= 0) {
      Put(",\"shard\":");
      PutNumber(shard);
    }
    Put(",\"event\":");
    PutJsonString(event);
  }
  // A JSON line must stay parseable when cut: close the object in the room kept for it.
  void CloseJson() {
    capacity += 2;
    Put("}");
  }
};

struct Logger {
  explicit Logger(uint32_t lines) : buffer(lines) {}
  LogBuffer buffer;
  std::thread thread;
  std::atomic<uint32_t> sleeping{0};  // 1 while the logger waits: a producer wakes it.
  std::atomic<bool> stop{false};
  int access_fd = -1;
  std::string access_path;  // When the access log is a file: reopened by ReopenAccessLog.
};
std::atomic<Logger*> g_logger{nullptr};
// A stopped logger, kept (never freed, see StartLogging) and reachable, so that leak checkers
// see it as the deliberate static it is.
Logger* g_stopped_logger = nullptr;
int g_access_fd = -1;  // While logging runs; read by the writer only.

void WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // Nowhere to report a failed log write.
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void WriteStream(void* /*context*/, LogStream stream, std::string_view lines) {
  int fd = stream == LogStream::kAccess && g_access_fd >= 0 ? g_access_fd : STDERR_FILENO;
  WriteAll(fd, lines);
}

void Wake(Logger& logger) {
  // Pairs with the fence in RunLogger: either the logger sees the line just pushed, or this
  // sees it asleep (a store-then-load on each side needs both fences).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (logger.sleeping.load(std::memory_order_relaxed) == 1 && logger.sleeping.exchange(0) == 1) {
    syscall(SYS_futex, &logger.sleeping, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }
}

// The line goes to the logger's buffer when it runs (or the one given), else straight out.
void Deliver(LogStream stream, std::string_view line, LogBuffer* buffer) {
  Logger* logger = nullptr;
  if (buffer == nullptr) {
    logger = g_logger.load(std::memory_order_acquire);
    if (logger != nullptr) buffer = &logger->buffer;
  }
  if (buffer == nullptr) {
    if (stream == LogStream::kLog) WriteAll(STDERR_FILENO, line);
    return;
  }
  buffer->TryPush(stream, line);
  if (logger != nullptr) Wake(*logger);
}

void RunLogger(Logger* logger) {
  LogPump pump(logger->buffer, WriteStream, nullptr);
  int64_t next_summary = MonotonicNs() + LogRateState::kIntervalNs;
  for (;;) {
    pump.Drain();
    pump.ReportDrops();
    int64_t now = MonotonicNs();
    if (now >= next_summary) {
      pump.ReportSuppressed(now);
      next_summary = now + LogRateState::kIntervalNs;
    }
    if (logger->stop.load()) break;
    // Sleep until a producer wakes us, or the next summary is due. Setting `sleeping` before
    // the last look at the buffer means a line pushed after that look finds it set and wakes us.
    logger->sleeping.store(1);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    LogStream stream;
    std::string line;
    if (logger->buffer.TryPop(&stream, &line)) {
      logger->sleeping.store(0);
      WriteStream(nullptr, stream, line);
      continue;
    }
    if (logger->stop.load()) {
      logger->sleeping.store(0);
      continue;  // One more drain, then out.
    }
    timespec timeout{0, 250'000'000};
    syscall(SYS_futex, &logger->sleeping, FUTEX_WAIT_PRIVATE, 1, &timeout, nullptr, 0);
    logger->sleeping.store(0);
  }
  pump.Drain();
  pump.ReportDrops();
  pump.ReportSuppressed(INT64_MAX);
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void SetLogFormat(LogFormat format) { g_format.store(format); }
LogFormat GetLogFormat() { return g_format.load(std::memory_order_relaxed); }
void SetLogShard(int shard) { g_shard = shard; }

bool StartLogging(const LogOptions& options, std::string* error) {
  SetLogFormat(options.format);
  int access_fd = -1;
  if (options.access_log == "-" || options.access_log == "stderr") {
    access_fd = STDERR_FILENO;
  } else if (!options.access_log.empty()) {
    access_fd = ::open(options.access_log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (access_fd < 0) {
      *error = "--access-log: cannot open " + options.access_log + ": " + strerror(errno);
      return false;
    }
  }
  // Never freed: a thread that read the pointer just before StopLogging may still push.
  auto* logger = new Logger(options.buffer_lines);
  logger->access_fd = access_fd;
  if (access_fd != STDERR_FILENO) logger->access_path = options.access_log;
  g_access_fd = access_fd;
  logger->thread = std::thread(RunLogger, logger);
  g_logger.store(logger, std::memory_order_release);
  static bool at_exit = (std::atexit(StopLogging), true);
  (void)at_exit;
  return true;
}

void StopLogging() {
  Logger* logger = g_logger.exchange(nullptr);
  if (logger == nullptr) return;
  logger->stop.store(true);
  logger->sleeping.store(1);
  Wake(*logger);
  logger->thread.join();
  // Lines pushed by threads that took the pointer before the exchange above.
  LogPump(logger->buffer, WriteStream, nullptr).Drain();
  g_stopped_logger = logger;
}

bool ReopenAccessLog(std::string* error) {
  Logger* logger = g_logger.load(std::memory_order_acquire);
  if (logger == nullptr || logger->access_fd < 0 || logger->access_path.empty()) return true;
  const int fresh =
      ::open(logger->access_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fresh < 0) {
    *error = "cannot open " + logger->access_path + ": " + strerror(errno);
    return false;
  }
  // The writer keeps its descriptor number: dup2 swaps the file behind it in one step, so a
  // line goes whole to the old file or whole to the new one.
  const bool swapped = ::dup2(fresh, logger->access_fd) >= 0;
  if (!swapped) *error = "dup2: " + std::string(strerror(errno));
  ::close(fresh);
  return swapped;
}

bool AccessLogEnabled() {
  Logger* logger = g_logger.load(std::memory_order_relaxed);
  return logger != nullptr && logger->access_fd >= 0;
}

bool LogMessage(LogSite& site, LogLevel level, int64_t now_ns, std::string_view message,
                LogBuffer* buffer) {
  const int shard = g_shard;
  uint64_t suppressed = 0;
  if (level >= LogLevel::kWarn) {
    LogRateState& rate = site.rate[std::clamp(shard + 1, 0, LogSite::kStates - 1)];
    if (!rate.Admit(now_ns, &suppressed)) {
      if (!site.registered.exchange(true)) {
        LogSite* head = g_suppressing_sites.load();
        do {
          site.next_registered.store(head);
        } while (!g_suppressing_sites.compare_exchange_weak(head, &site));
      }
      return false;
    }
  }
  char text[LogBuffer::kMaxLine];
  LineBuilder line{text, sizeof(text) - 3};  // Room for "}\n" and a cut JSON string's quote.
  if (GetLogFormat() == LogFormat::kJson) {
    char event[64];
    line.PutJsonHead(level, shard, EventOf(site.file, event));
    line.Put(",\"src\":\"");
    line.Put(BaseName(site.file));
    line.Put(":");
    line.PutNumber(site.line);
    line.Put("\"");
    if (suppressed > 0) {
      line.Put(",\"suppressed\":");
      line.PutNumber(static_cast<long long>(suppressed));
    }
    line.Put(",\"msg\":");
    line.PutJsonString(message);
    if (line.size == line.capacity) {  // Cut inside the message: end its string.
      line.capacity += 1;
      line.Put("\"");
    }
    line.CloseJson();
  } else {
    char time[32];
    line.Put(FormatTime(time));
    line.Put(" ");
    char level_name[8];
    int n = snprintf(level_name, sizeof(level_name), "%-5s ", kLevelNames[static_cast<int>(level)]);
    line.Put({level_name, static_cast<size_t>(n)});
    line.Put(message);
    if (suppressed > 0) {
      line.Put(" (");
      line.PutNumber(static_cast<long long>(suppressed));
      line.Put(" more like this in the last second, not logged)");
    }
  }
  line.capacity = sizeof(text);
  line.Put("\n");
  Deliver(LogStream::kLog, {text, line.size}, buffer);
  return true;
}

void LogAt(LogSite& site, LogLevel level, const char* format, ...) {
  char message[LogBuffer::kMaxLine];
  va_list args;
  va_start(args, format);
  int n = vsnprintf(message, sizeof(message), format, args);
  va_end(args);
  size_t size = n < 0 ? 0 : std::min<size_t>(static_cast<size_t>(n), sizeof(message) - 1);
  LogMessage(site, level, MonotonicNs(), {message, size}, nullptr);
}

LogRecord::LogRecord(LogLevel level, std::string_view event)
    : json_(GetLogFormat() == LogFormat::kJson) {
  LineBuilder line{line_, sizeof(line_) - 2};
  if (json_) {
    line.PutJsonHead(level, g_shard, event);
  } else {
    char time[32];
    line.Put(FormatTime(time));
    line.Put(" ");
    line.Put(kLevelNames[static_cast<int>(level)]);
    line.Put(" ");
    line.Put(event);
  }
  size_ = line.size;
}

void LogRecord::Append(std::string_view text) {
  LineBuilder line{line_, sizeof(line_) - 2, size_};
  line.Put(text);
  size_ = line.size;
}

void LogRecord::AppendKey(std::string_view key) {
  Append(json_ ? ",\"" : " ");
  Append(key);
  Append(json_ ? "\":" : "=");
}

LogRecord& LogRecord::Add(std::string_view key, std::string_view value) {
  // Whole fields or none: a cut value would leave a line that does not parse.
  const size_t room = sizeof(line_) - 2 - size_;
  if (key.size() + value.size() + 8 > room) return *this;
  const size_t before = size_;
  AppendKey(key);
  LineBuilder line{line_, sizeof(line_) - 2, size_};
  if (json_ || value.empty() || value.find_first_of(" \"\\") != std::string_view::npos) {
    line.PutJsonString(value);  // Text: quoted and escaped the same way.
  } else {
    line.Put(value);
  }
  size_ = line.size == line.capacity ? before : line.size;
  return *this;
}

LogRecord& LogRecord::Add(std::string_view key, uint64_t value) {
  char digits[24];
  int n = snprintf(digits, sizeof(digits), "%llu", static_cast<unsigned long long>(value));
  if (key.size() + static_cast<size_t>(n) + 6 > sizeof(line_) - 2 - size_) return *this;
  AppendKey(key);
  Append({digits, static_cast<size_t>(n)});
  return *this;
}

LogRecord& LogRecord::AddMillis(std::string_view key, int64_t nanoseconds) {
  char digits[32];
  int n = snprintf(digits, sizeof(digits), "%lld.%03lld",
                   static_cast<long long>(nanoseconds / 1'000'000),
                   static_cast<long long>(nanoseconds / 1000 % 1000));
  if (key.size() + static_cast<size_t>(n) + 6 > sizeof(line_) - 2 - size_) return *this;
  AppendKey(key);
  Append({digits, static_cast<size_t>(n)});
  return *this;
}

std::string_view LogRecord::Finish() {
  LineBuilder line{line_, sizeof(line_), size_};
  if (json_) line.Put("}");
  line.Put("\n");
  size_ = line.size;
  return {line_, size_};
}

void LogRecord::Emit(LogStream stream) { Deliver(stream, Finish(), nullptr); }

size_t LogPump::Drain() {
  std::string batches[kLogStreams];
  std::string line;
  LogStream stream;
  size_t lines = 0;
  while (buffer_.TryPop(&stream, &line)) {
    std::string& batch = batches[static_cast<int>(stream)];
    batch.append(line);
    ++lines;
    if (batch.size() >= 64 * 1024) Flush(stream, &batch);
  }
  for (int i = 0; i < kLogStreams; ++i) Flush(static_cast<LogStream>(i), &batches[i]);
  return lines;
}

void LogPump::Flush(LogStream stream, std::string* batch) {
  if (batch->empty()) return;
  write_(context_, stream, *batch);
  batch->clear();
}

void LogPump::ReportDrops() {
  for (LogStream stream : {LogStream::kLog, LogStream::kAccess}) {
    uint64_t dropped = buffer_.TakeDropped(stream);
    if (dropped == 0) continue;
    LogRecord record(LogLevel::kWarn, "log.dropped");
    record.Add("stream", stream == LogStream::kLog ? "log" : "access")
        .Add("dropped", dropped)
        .Add("reason", "the log buffer (--log-buffer-lines) was full");
    write_(context_, LogStream::kLog, record.Finish());
  }
}

void LogPump::ReportSuppressed(int64_t now_ns) {
  for (LogSite* site = g_suppressing_sites.load(); site != nullptr;
       site = site->next_registered.load()) {
    for (int state = 0; state < LogSite::kStates; ++state) {
      uint64_t held_back = site->rate[state].TakeExpired(now_ns);
      if (held_back == 0) continue;
      char event[64];
      const int saved_shard = g_shard;
      g_shard = state - 1;  // The summary names the shard whose lines were held back.
      LogRecord record(LogLevel::kWarn, EventOf(site->file, event));
      g_shard = saved_shard;
      std::string src(BaseName(site->file));
      src.append(":").append(std::to_string(site->line));
      record.Add("src", src).Add("suppressed", held_back).Add("msg", "similar lines not logged");
      write_(context_, LogStream::kLog, record.Finish());
    }
  }
}

void CheckFailed(const char* file, int line, const char* expression) {
  // The lines still buffered first: they tell what led here.
  if (Logger* logger = g_logger.load()) LogPump(logger->buffer, WriteStream, nullptr).Drain();
  char text[512];
  int n = snprintf(text, sizeof(text), "CHECK failed at %s:%d: %s\n", file, line, expression);
  WriteAll(STDERR_FILENO, {text, static_cast<size_t>(std::clamp(n, 0, int(sizeof(text)) - 1))});
  abort();
}

}  // namespace ringcast
