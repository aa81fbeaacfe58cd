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
  flags
      .Add("--threads", &options->threads, "RINGCAST_THREADS",
           "Shards, one thread each (default: online CPUs)")
      ->check(CLI::Range(1, 64));
  flags
      .Add("--workers", &options->workers, "RINGCAST_WORKERS",
           "Threads for blocking work (password hashing, thumbnails, static file reads, upload "
           "commits)")
      ->check(CLI::Range(1, 64));
  flags
      .Add("--shutdown-timeout", &options->shutdown_timeout_s, "RINGCAST_SHUTDOWN_TIMEOUT",
           "Seconds to wait for close handshakes on SIGINT/SIGTERM")
      ->check(CLI::Range(0, 3600));
  flags
      .Add("--max-mail-backlog", &options->max_mail_backlog, "RINGCAST_MAX_MAIL_BACKLOG",
           "Mails one shard holds for another beyond their 4096-mail queue; more are refused")
      ->check(CLI::Range(1024, 1 << 26));
  flags
      .Add("--inbox-size", &options->inbox_size, "RINGCAST_INBOX_SIZE",
           "Mails from worker, storage and bus threads queued per shard; past it they overflow "
           "(the bus's: at most as many again, then refused and refetched from the store)")
      ->check(CLI::Range(64, 1 << 24));
  flags.AddSwitch("pin-threads", &options->pin_threads, "RINGCAST_PIN_THREADS",
                  "Pin each shard thread to its own CPU");
  flags
      .Add("--max-pending-registrations", &options->max_pending_registrations,
           "RINGCAST_MAX_PENDING_REGISTRATIONS",
           "New accounts' password hashes queued or running on this node (503 past it); they run "
           "on at most half the --workers, so logins are never queued behind them")
      ->check(CLI::Range(1, 1000000));
  flags
      .Add("--workers-login-queue", &options->workers_login_queue, "RINGCAST_WORKERS_LOGIN_QUEUE",
           "Logins' password checks queued or running on the workers (503 past it)")
      ->check(CLI::Range(1, 1000000));
  flags
      .Add("--workers-media-queue", &options->workers_media_queue, "RINGCAST_WORKERS_MEDIA_QUEUE",
           "Uploaded images' thumbnails queued or running on the workers (503 past it)")
      ->check(CLI::Range(1, 1000000));
  flags
      .Add("--workers-file-queue", &options->workers_file_queue, "RINGCAST_WORKERS_FILE_QUEUE",
           "Static file reads queued or running on the workers (503 past it)")
      ->check(CLI::Range(1, 1000000));
}

}  // namespace ringcast
