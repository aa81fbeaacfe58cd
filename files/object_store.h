// ObjectStore: uploaded files as objects of one bucket (files/README.md, "Layout"), with the
// steps the file routes and the sweeper take, each a few S3 calls with retries.
//
// Threads: any but a shard's (each call blocks on the network; the shards run them on the
// workers' kObjectStore class). The object is shared by every shard and the sweeper; its state
// is immutable after construction.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "files/s3_client.h"

namespace ringcast::files {

struct ObjectStoreOptions {
  S3Location location;
  uint64_t part_bytes = 8 << 20;  // --s3-part-bytes: each multipart part but the last.
  std::string node;               // This process's own name under tmp/ and swept/.
  int attempts = 3;               // Per call, for transient failures (S3Status::transient).
};

class ObjectStore {
 public:
  explicit ObjectStore(ObjectStoreOptions options);

  const ObjectStoreOptions& options() const { return options_; }
  S3Client& client() { return client_; }

  // Where the bytes of a hash live: "ab/cdef…", the --files-dir layout (so a migration keeps
  // every relative path).
  static std::string KeyOf(std::string_view sha256);
  // A fresh key under tmp/<node>/ for a multipart upload whose hash is not known yet.
  std::string NewTempKey() const;

  // A multipart upload under way: its parts are sent from the upload's temporary file.
  S3Status StartParts(const std::string& temp_key, std::string* upload_id);
  S3Status SendPart(const std::string& temp_key, const std::string& upload_id, int part, int fd,
                    uint64_t offset, uint64_t size, std::string* etag);
  // Best effort: a failure is left to the bucket's lifecycle rule (files/README.md).
  void AbortParts(const std::string& temp_key, const std::string& upload_id);

  // Makes `size` bytes of `fd` the object of `sha256`, unless it exists already (the same bytes
  // stored by another upload).
  S3Status CommitWhole(const std::string& sha256, int fd, uint64_t size);
  // Completes the multipart upload and makes it the object of `sha256` (a server-side copy,
  // unless the object exists), then removes the temporary object.
  S3Status CommitParts(const std::string& sha256, const std::string& temp_key,
                       const std::string& upload_id, const std::vector<std::string>& etags);

  // The sweeper's removal of the objects of `hashes` that no upload names, safe beside uploads
  // of the same bytes (chat/upload_sweeper.h): `unnamed` asks the store which of some hashes no
  // upload names (nullopt: it cannot say now). Each candidate is copied aside to
  // swept/<node>/, then deleted, then asked about again: one named meanwhile is copied back.
  // Returns the hashes whose objects were removed.
  using UnnamedQuery =
      std::function<std::optional<std::vector<std::string>>(std::vector<std::string>)>;
  std::vector<std::string> RemoveUnnamed(std::vector<std::string> hashes,
                                         const UnnamedQuery& unnamed);

  // At start: aborts this node's multipart uploads a crash left open, and puts back the objects
  // a sweep had moved aside when it stopped (their hashes are returned, for the sweep to decide
  // again). Empty string on success, else why.
  std::string Recover(std::vector<std::string>* restored);

 private:
  // Runs `call` up to options_.attempts times while it fails transiently (a short backoff).
  S3Status Retried(const std::function<S3Status()>& call);
  std::string SweptKey(std::string_view sha256) const;

  ObjectStoreOptions options_;
  S3Client client_;
};

}  // namespace ringcast::files
