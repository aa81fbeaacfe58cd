#include <unistd.h>

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
      Bounded("threads", &options->threads, 1, 64,
              "Shards, one thread each (default: online CPUs)"),
      Bounded("workers", &options->workers, 1, 64,
              "Threads for blocking work (password hashing, thumbnails, static file reads, upload "
              "commits)"),
      Bounded("shutdown-timeout", &options->shutdown_timeout_s, 0, 3600,
              "Seconds to wait for close handshakes on SIGINT/SIGTERM"),
      Bounded("max-mail-backlog", &options->max_mail_backlog, 1024, 1 << 26,
              "Mails one shard holds for another beyond their 4096-mail queue; more are refused"),
      Bounded("inbox-size", &options->inbox_size, 64, 1 << 24,
              "Mails from worker, storage and bus threads queued per shard; past it they overflow "
              "(the bus's: at most as many again, then refused and refetched from the store)"),
      {"pin-threads", &options->pin_threads, "Pin each shard thread to its own CPU"},
      Bounded(
          "max-pending-registrations", &options->max_pending_registrations, 1, 1000000,
          "New accounts' password hashes queued or running on this node (503 past it); they run "
          "on at most half the --workers, so logins are never queued behind them"),
      Bounded("workers-login-queue", &options->workers_login_queue, 1, 1000000,
              "Logins' password checks queued or running on the workers (503 past it)"),
      Bounded("workers-media-queue", &options->workers_media_queue, 1, 1000000,
              "Uploaded images' thumbnails queued or running on the workers (503 past it)"),
      Bounded("workers-file-queue", &options->workers_file_queue, 1, 1000000,
              "Static file reads queued or running on the workers (503 past it)"),
      Bounded("workers-object-queue", &options->workers_object_queue, 1, 1000000,
              "Requests to the object store (--files-url) queued or running on the workers (503 "
              "past it)"),
  });
}

}  // namespace ringcast
