// Facts about the machine and the server process for the report: kernel, CPU model, /proc
// figures of another process, the fd limit. Parsing is split from reading so it can be tested
// on captured text.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace ringcast::bench {

// CLOCK_MONOTONIC in nanoseconds: the clock every timestamp in payloads uses.
int64_t NowNs();

std::string KernelDescription();  // "Linux 6.1.0-18-amd64 #1 SMP ... x86_64"
std::string CpuModel();           // First "model name" in /proc/cpuinfo, or "unknown".
std::string HostName();
std::string UtcTimestamp();  // ISO 8601, seconds.

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the soft limit now in force.
uint64_t RaiseFdLimit();

struct ProcessSample {
  bool ok = false;
  uint64_t rss_bytes = 0;  // VmRSS.
  uint64_t cpu_ticks = 0;  // utime + stime, in clock ticks (sysconf(_SC_CLK_TCK) per second).
  int64_t taken_ns = 0;    // NowNs() when read.
};
ProcessSample SampleProcess(pid_t pid);
double TicksToSeconds(uint64_t ticks);

// "VmRSS:\t  1234 kB" line of /proc/PID/status → bytes; false when absent.
bool ParseVmRssBytes(std::string_view status_text, uint64_t* bytes);
// utime (field 14) + stime (field 15) of /proc/PID/stat. Fields are counted after the ")" that
// ends the command name, which may itself hold spaces and parentheses.
bool ParseCpuTicks(std::string_view stat_text, uint64_t* ticks);

}  // namespace ringcast::bench
