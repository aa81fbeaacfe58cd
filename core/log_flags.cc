#include <CLI/CLI.hpp>

#include "core/flags.h"
#include "core/log_options.h"

namespace ringcast {

void RegisterLogFlags(FlagRegistry& flags, LoggingOptions* options) {
  flags.Add("--log-level", &options->log_level, "RINGCAST_LOG_LEVEL", "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  flags
      .Add("--log-format", &options->log_format, "RINGCAST_LOG_FORMAT",
           "Log lines (stderr) and access log lines as text or json (one JSON object a line)")
      ->check(CLI::IsMember({"text", "json"}));
  flags
      .Add("--log-buffer-lines", &options->log_buffer_lines, "RINGCAST_LOG_BUFFER_LINES",
           "Log lines waiting for the logger thread at most (rounded up to a power of two, 1 KiB "
           "each); past it lines are dropped and counted, never waited for")
      ->check(CLI::Range(64, 1 << 20));
  flags.Add("--access-log", &options->access_log, "RINGCAST_ACCESS_LOG",
            "One line per HTTP request and per WebSocket session: '-' to stderr, or a file to "
            "append to; empty: off");
}

}  // namespace ringcast
