// ObjectUpload: one upload on its way into the object store (files/README.md, "Uploads"), sent
// on while it streams in. FileUpload (core/net/file_upload.h) writes the body to a temporary
// file as always and tells this object how far the file is written; each time a whole part
// (--s3-part-bytes) is on disk and more bytes follow it, the part goes to the store (a multipart
// upload to tmp/<node>/<random>, started with the first part) and its bytes leave the disk (a
// hole punched in the file). The upload may run at most two parts ahead of what was sent, so it
// holds at most two parts of disk and FileUpload's megabyte of memory, whatever the file's size.
// Images keep their bytes (no holes): their thumbnail is made from the whole file.
//
// At the end (Commit, once the record is written) the rest goes: a file of at most one part as
// one PUT to its content address, a larger one as its last part, the completion and a copy to
// its content address. An upload that is not kept (refused, aborted, over quota, a part that
// cannot be sent) is abandoned: its multipart upload is aborted (FileUpload says so for a body
// that failed; the route for an upload it does not keep).
//
// Owner: its shard's thread; held by the FileUpload's options and the route's callbacks
// (shared_ptr); the S3 calls run on the workers' kObjectStore class.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/net/file_upload.h"
#include "files/object_store.h"

namespace ringcast {
class Shard;
}

namespace ringcast::files {

class ObjectUpload final : public UploadParts, public std::enable_shared_from_this<ObjectUpload> {
 public:
  ObjectUpload(Shard& shard, std::shared_ptr<ObjectStore> store);
  ~ObjectUpload() override;

  void OnWritten(int fd, uint64_t written) override;
  void OnAbandoned() override { Abandon(); }

  // Nothing will be kept: the parts sent are dropped (their multipart upload aborted). Once the
  // part in flight, if any, is back. Idempotent; nothing after a Commit.
  void Abandon();

  // The file's `size` bytes (hash `sha256`) become the object of that hash; `done` runs on this
  // shard with the outcome. Once, after the body has ended.
  using Done = std::function<void(Shard&, S3Status)>;
  void Commit(std::string sha256, uint64_t size, Done done);

 private:
  void MaybeSendPart();
  void OnPartSent(S3Status status, std::string upload_id, std::string etag, bool image);

  Shard& shard_;
  std::shared_ptr<ObjectStore> store_;
  const uint64_t part_bytes_;
  int fd_ = -1;  // Our own duplicate of the upload's file: the parts are read from it.
  uint64_t written_ = 0;
  std::string temp_key_;
  std::string upload_id_;
  std::vector<std::string> etags_;
  bool in_flight_ = false;
  bool keep_bytes_ = false;  // An image: no holes (its thumbnail reads the whole file).
  bool finished_ = false;    // Committed or abandoned: the work posted then owns fd_ and the parts.
  std::optional<S3Status> failure_;
  std::function<void()> after_part_;  // A commit waiting for the part in flight.
};

}  // namespace ringcast::files
