#include "tools/bench/system_info.h"

#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace ringcast::bench {

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::string KernelDescription() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + " " + u.release + " " + u.version + " " + u.machine;
}

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool ParseU64(std::string_view text, uint64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end != text.data();
}

}  // namespace

std::string CpuModel() {
  const std::string text = ReadFile("/proc/cpuinfo");
  std::string_view rest = text;
  while (!rest.empty()) {
    const size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    if (!line.starts_with("model name")) continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    return std::string(value);
  }
  return "unknown";
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

std::string UtcTimestamp() {
  const time_t now = time(nullptr);
  tm t{};
  gmtime_r(&now, &t);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &t);
  return buf;
}

uint64_t RaiseFdLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

bool ParseVmRssBytes(std::string_view status_text, uint64_t* bytes) {
  const size_t at = status_text.find("VmRSS:");
  if (at == std::string_view::npos) return false;
  std::string_view rest = status_text.substr(at + 6);
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  uint64_t kib = 0;
  if (!ParseU64(rest, &kib)) return false;
  *bytes = kib * 1024;
  return true;
}

bool ParseCpuTicks(std::string_view stat_text, uint64_t* ticks) {
  const size_t paren = stat_text.rfind(')');
  if (paren == std::string_view::npos) return false;
  std::string_view rest = stat_text.substr(paren + 1);
  // After ")": field 3 (state) is the first; utime and stime are fields 14 and 15.
  uint64_t utime = 0;
  uint64_t stime = 0;
  for (int field = 3; field <= 15; ++field) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const size_t space = rest.find(' ');
    std::string_view token = rest.substr(0, space);
    if (token.empty()) return false;
    if (field == 14 && !ParseU64(token, &utime)) return false;
    if (field == 15 && !ParseU64(token, &stime)) return false;
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space);
  }
  *ticks = utime + stime;
  return true;
}

ProcessSample SampleProcess(pid_t pid) {
  ProcessSample sample;
  const std::string base = "/proc/" + std::to_string(pid);
  sample.taken_ns = NowNs();
  sample.ok = ParseVmRssBytes(ReadFile(base + "/status"), &sample.rss_bytes) &&
              ParseCpuTicks(ReadFile(base + "/stat"), &sample.cpu_ticks);
  return sample;
}

double TicksToSeconds(uint64_t ticks) {
  static const long kTicksPerSecond = sysconf(_SC_CLK_TCK);
  return static_cast<double>(ticks) /
         static_cast<double>(kTicksPerSecond > 0 ? kTicksPerSecond : 100);
}

}  // namespace ringcast::bench
