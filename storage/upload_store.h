// UploadStore: uploaded files' records (issue 15: POST /api/uploads, GET /files/{id};
// storage/SCHEMA.md "uploads") and the orphan sweep's queries (--upload-orphan-ttl;
// storage/SCHEMA.md "Orphan uploads"). Replies as store_types.h says.
//
// Called from shards (the HTTP API, sends checking their attachments) and from the upload
// sweeper's thread, which takes only this interface. Backends: SqliteChatStore
// (sqlite_upload_store.cc) and PgChatStore (pg_upload_store.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/store_types.h"

namespace ringcast::storage {

// One uploaded file: its record; the bytes are stored once per sha256 under the data dir.
struct UploadRecord {
  std::string id;  // 128 random bits, base64url: unguessable.
  int64_t owner = 0;
  std::string name;
  int64_t size = 0;
  std::string type;     // The declared type, or application/octet-stream (sniffing refused it).
  std::string sha256;   // Lowercase hex.
  int64_t created = 0;  // ms
  int64_t width = 0;    // An image's (0: not known).
  int64_t height = 0;
  std::string thumb_sha256;  // Its thumbnail's bytes (a JPEG; "" when none).
  int64_t thumb_size = 0;
};

struct UploadOutcome {
  bool over_quota = false;  // Not stored: the owner's uploads would pass the quota.
  int64_t used_bytes = 0;   // The owner's total, with this one when stored.
};

#define RINGCAST_UPLOAD_STORE_OPS(OP)                                                              \
  /* Stores the record unless the owner's uploads (this one included) would pass                   \
     `quota_bytes`. */                                                                             \
  OP(CreateUpload, (UploadRecord record, uint64_t quota_bytes, Reply<UploadOutcome> reply))        \
  /* The record of `id` when `user` may read it: its owner, or a member of a conversation where    \
     a message carries it, anyone when it is a user's avatar (profile_store.h); `user` 0: no check \
     (a signed URL was). nullopt otherwise (unknown and refused look the same); a read. */         \
  OP(FindUpload, (std::string id, int64_t user, Reply<std::optional<UploadRecord>> reply))         \
  /* The records among `ids` that `owner` uploaded, in no particular order (a send checks that     \
     its attachments are the sender's own); a read. */                                             \
  OP(FindOwnedUploads,                                                                             \
     (int64_t owner, std::vector<std::string> ids, Reply<std::vector<UploadRecord>> reply))        \
  /* Deletes up to `limit` uploads created in [created_from, created_before) that no message       \
     carries, oldest first, and replies with their records (the caller then removes the files      \
     that no row names any more: UnreferencedFiles). The check and the delete are one              \
     statement, so an upload a committed message carries is never deleted; on PostgreSQL rows      \
     another transaction holds (a concurrent sweep on another node, an append's foreign-key        \
     check) are skipped, so nodes may sweep at once. */                                            \
  OP(DeleteOrphanUploads, (int64_t created_from, int64_t created_before, uint32_t limit,           \
                           Reply<std::vector<UploadRecord>> reply))                                \
  /* Those of `hashes` (lowercase hex SHA-256) that no upload names as its file or its             \
     thumbnail; a read. */                                                                         \
  OP(UnreferencedFiles, (std::vector<std::string> hashes, Reply<std::vector<std::string>> reply))  \
  /* Takes (deletes and replies with) up to `limit` of the files message deletions released        \
     (schema v11, released_files): the caller removes those no upload names (UnreferencedFiles).   \
     On PostgreSQL rows another node is taking are skipped. */                                     \
  OP(TakeReleasedFiles, (uint32_t limit, Reply<std::vector<std::string>> reply))

class UploadStore {
 public:
  virtual ~UploadStore() = default;
  RINGCAST_UPLOAD_STORE_OPS(RINGCAST_STORE_OP_PURE)
};

}  // namespace ringcast::storage
