#include <unistd.h>

#include <CLI/CLI.hpp>

#include "core/flags.h"
#include "core/runtime/runtime_options.h"

namespace ringcast {

void RegisterRuntimeFlags(FlagRegistry& flags, RuntimeOptions* options) {
  // Before the flag, so that --help shows this machine's default.
  if (options->threads == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    options->threads = cpus > 0 ? static_cast<uint32_t>(cpus < 64 ? cpus : 64) : 1;
  }
  flags.Add({
      {"threads", &options->threads, "Shards, one thread each (default: online CPUs)",
       CLI::Range(1, 64)},
      {"workers", &options->workers,
       "Threads for blocking work (password hashing, thumbnails, static file reads, upload "
       "commits)",
       CLI::Range(1, 64)},
      {"shutdown-timeout", &options->shutdown_timeout_s,
       "Seconds to wait for close handshakes on SIGINT/SIGTERM", CLI::Range(0, 3600)},
      {"max-mail-backlog", &options->max_mail_backlog,
       "Mails one shard holds for another beyond their 4096-mail queue; more are refused",
       CLI::Range(1024, 1 << 26)},
      {"inbox-size", &options->inbox_size,
       "Mails from worker, storage and bus threads queued per shard; past it they overflow "
       "(the bus's: at most as many again, then refused and refetched from the store)",
       CLI::Range(64, 1 << 24)},
      {"pin-threads", &options->pin_threads, "Pin each shard thread to its own CPU"},
      {"max-pending-registrations", &options->max_pending_registrations,
       "New accounts' password hashes queued or running on this node (503 past it); they run "
       "on at most half the --workers, so logins are never queued behind them",
       CLI::Range(1, 1000000)},
      {"workers-login-queue", &options->workers_login_queue,
       "Logins' password checks queued or running on the workers (503 past it)",
       CLI::Range(1, 1000000)},
      {"workers-media-queue", &options->workers_media_queue,
       "Uploaded images' thumbnails queued or running on the workers (503 past it)",
       CLI::Range(1, 1000000)},
      {"workers-file-queue", &options->workers_file_queue,
       "Static file reads queued or running on the workers (503 past it)", CLI::Range(1, 1000000)},
  });
}

}  // namespace ringcast
