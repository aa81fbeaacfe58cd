// The shards' and the worker pool's options (--threads, --workers, the mail queues) and the
// flags that set them (runtime_flags.cc).
#pragma once

#include <cstdint>

namespace ringcast {

class FlagRegistry;

struct RuntimeOptions {
  uint32_t threads = 0;  // Shards; RegisterRuntimeFlags defaults it to the online CPUs.
  uint32_t workers = 2;  // Threads for blocking work (worker_pool.h).
  uint32_t shutdown_timeout_s = 5;
  uint32_t max_mail_backlog = 1 << 20;  // Mails one shard holds for another past its queue.
  uint32_t inbox_size = 16384;          // Mails from non-shard threads queued per shard.
  bool pin_threads = true;
  // New accounts' password hashes queued or running on this node (worker_pool.h); past it: 503.
  uint32_t max_pending_registrations = 64;
  // Worker-pool tasks queued or running per class on this node (worker_pool.h); past it: 503.
  uint32_t workers_login_queue = 256;
  uint32_t workers_media_queue = 32;
  uint32_t workers_file_queue = 1024;
  uint32_t workers_object_queue = 256;
  // Worker threads for the object store's requests (kObjectStore), on top of `workers`: set by
  // the composition root from --s3-workers when --files-url is on, else 0.
  uint32_t object_workers = 0;
};

void RegisterRuntimeFlags(FlagRegistry& flags, RuntimeOptions* options);

}  // namespace ringcast
