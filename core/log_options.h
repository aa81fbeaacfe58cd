// The log's flags (--log-level, --log-format, --log-buffer-lines, --access-log): what main
// hands to SetLogLevel and StartLogging (log.h). Registered by log_flags.cc.
#pragma once

#include <cstdint>
#include <string>

namespace ringcast {

class FlagRegistry;

struct LoggingOptions {
  std::string log_level = "info";
  std::string log_format = "text";   // text or json (core/log.h).
  uint32_t log_buffer_lines = 4096;  // Lines waiting for the logger thread; past it: dropped.
  std::string access_log;            // "": off; "-": stderr; else a file path.
};

void RegisterLogFlags(FlagRegistry& flags, LoggingOptions* options);

}  // namespace ringcast
