// --migrate-files: copies a --files-dir into the bucket of --files-url, for an operator moving
// a node (or a cluster's shared volume) to object storage (files/README.md, "Moving a
// --files-dir into a bucket"). Run once the nodes write to the bucket (or are stopped): a file
// uploaded to the folder after it has been listed is not copied.
//
// Resumable: an object already at a file's key with the file's size is skipped, so a run cut
// short is run again. Verified: each file's SHA-256 is computed as it is read and must be its
// name (a file whose bytes do not match is reported and not copied), a single-part object's
// ETag must be the file's MD5, and every object's size the file's.
//
// Runs on the main thread and `threads` threads of its own, before and instead of the server.
#pragma once

#include <cstdint>
#include <string>

#include "files/object_store.h"

namespace ringcast::files {

struct MigrationReport {
  uint64_t files = 0;
  uint64_t copied = 0;
  uint64_t skipped = 0;  // Present already with the same size.
  uint64_t failed = 0;   // Unreadable, a hash that is not its name, or the store refused.
  uint64_t bytes_copied = 0;
};

MigrationReport MigrateFiles(const std::string& files_dir, ObjectStore& store, uint32_t threads);

}  // namespace ringcast::files
