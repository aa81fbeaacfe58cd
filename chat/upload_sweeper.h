// UploadSweeper: deletes the uploads no message carries once --upload-orphan-ttl has passed
// (proto/PROTOCOL.md, "Files"; storage/SCHEMA.md, "Orphan uploads"): their records (which
// frees the uploader's quota, a sum over their records), their thumbnails and their files,
// where no other upload names the same bytes.
//
// Each pass also takes the files of uploads that message deletions released (proto/PROTOCOL.md,
// "Changes to messages": their records went with the deletion) and removes those no upload
// names; a crash between the take and the removal leaves those bytes on disk (a leak, never a
// loss).
//
// Owns one thread of its own (never a shard): every clamp(ttl / 4, 1 s, 60 s) it asks the
// store to delete, kBatch at a time, the uploads created before now - ttl - margin
// (margin = min(ttl, 60 s)) that no message carries, then removes the files no row names any
// more. A send refuses attachments older than ttl (chat/sessions/session_host.cc), so the margin is
// what an accepted send has to reach the store before its upload could be swept.
//
// Safe to run on every node of a cluster at once, and beside uploads of the same bytes:
// - rows: one conditional DELETE … RETURNING a batch (PostgreSQL: FOR UPDATE SKIP LOCKED),
//   so each row is deleted by one sweep, never one a committed message carries;
// - files: a hash that no row names is first renamed into this process's temporary folder,
//   then the store is asked again; a hash named meanwhile (an upload of the same bytes whose
//   record was written before its file is committed, chat/api/upload_api.cc) is linked
//   back, otherwise the renamed file is removed. Between the two a download of that new upload
//   may find no file (404) for the time of one store read. A crash in between leaves
//   <temp>/<sha256>.swept: the next start puts it back (PrepareFileStore; it may be the only
//   copy of bytes named again), and that process's first pass asks the store about it as
//   about any other file (`recheck`).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/runtime/periodic_thread.h"
#include "files/object_store.h"
#include "storage/upload_store.h"

namespace ringcast::chat {

struct UploadSweepOptions {
  std::chrono::seconds ttl{86400};   // --upload-orphan-ttl (> 0).
  std::string files_dir;             // UploadFilesDir.
  std::string temp_dir;              // UploadTempDir: same filesystem, this process's own.
  std::vector<std::string> recheck;  // Hashes PrepareFileStore put back: the first pass decides.
  // --files-url: the bytes are objects of this bucket, removed by ObjectStore::RemoveUnnamed
  // (the same protocol with a copy aside for the rename); null: files in files_dir.
  std::shared_ptr<files::ObjectStore> objects;
};

class UploadSweeper {
 public:
  static constexpr uint32_t kBatch = 256;  // Uploads per DELETE.

  // `store` outlives the sweeper.
  UploadSweeper(storage::UploadStore& store, UploadSweepOptions options);
  ~UploadSweeper();  // Stops.

  void Start();
  // Waits for the batch under way, if any. Idempotent.
  void Stop();

 private:
  bool Pass();  // false: stopping.
  // Removes the files of `deleted` that no upload names any more.
  void RemoveFiles(const std::vector<storage::UploadRecord>& deleted);
  // Removes the files of these hashes that no upload names.
  void RemoveUnnamed(std::vector<std::string> hashes);

  storage::UploadStore& store_;
  const UploadSweepOptions options_;
  // Uploads created before this (ms) were looked at by an earlier pass: each pass looks from
  // a minute before its predecessor's cutoff (rows written late, clocks a little apart).
  int64_t scanned_to_ = 0;
  bool rechecked_ = false;  // options_.recheck was looked at.
  PeriodicThread thread_;
};

}  // namespace ringcast::chat
