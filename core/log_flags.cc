#include <CLI/CLI.hpp>

#include "core/flags.h"
#include "core/log_options.h"

namespace ringcast {

void RegisterLogFlags(FlagRegistry& flags, LoggingOptions* options) {
  flags.Add({
      {"log-level", &options->log_level, "debug, info, warn or error",
       CLI::IsMember({"debug", "info", "warn", "error"})},
      {"log-format", &options->log_format,
       "Log lines (stderr) and access log lines as text or json (one JSON object a line)",
       CLI::IsMember({"text", "json"})},
      Bounded(
          "log-buffer-lines", &options->log_buffer_lines, 64, 1 << 20,
          "Log lines waiting for the logger thread at most (rounded up to a power of two, 1 KiB "
          "each); past it lines are dropped and counted, never waited for"),
      {"access-log", &options->access_log,
       "One line per HTTP request and per WebSocket session: '-' to stderr, or a file to "
       "append to; empty: off"},
  });
}

}  // namespace ringcast
