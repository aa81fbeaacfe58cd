#include "files/object_upload.h"

#include <fcntl.h>
#include <unistd.h>

#include "core/log.h"
#include "core/runtime/shard.h"
#include "proto/file_response.h"

namespace ringcast::files {
namespace {

constexpr size_t kSniffBytes = 16;

bool LooksLikeAnImage(int fd) {
  uint8_t head[kSniffBytes];
  const ssize_t n = pread(fd, head, sizeof(head), 0);
  return n > 0 && !http::SniffImageType({head, static_cast<size_t>(n)}).empty();
}

}  // namespace

ObjectUpload::ObjectUpload(Shard& shard, std::shared_ptr<ObjectStore> store)
    : shard_(shard), store_(std::move(store)), part_bytes_(store_->options().part_bytes) {
  // Two parts on disk: the one being sent and the one being written.
  allowed_end = 2 * part_bytes_;
}

// Neither committed nor abandoned (a route that lost track of it): only the file is closed (on
// whichever thread drops the last reference); a multipart upload left open is aborted by the next
// start's recovery or the bucket's lifecycle rule (files/README.md).
ObjectUpload::~ObjectUpload() {
  if (fd_ >= 0) close(fd_);
}

void ObjectUpload::Abandon() {
  if (finished_) return;
  if (in_flight_) {
    after_part_ = [this] { Abandon(); };
    return;
  }
  finished_ = true;
  const int fd = fd_;
  auto work = [store = store_, fd, key = temp_key_, id = upload_id_] {
    if (!id.empty()) store->AbortParts(key, id);
    if (fd >= 0) close(fd);
    return 0;
  };
  fd_ = -1;
  if (shard_.TryRunBlocking(WorkClass::kObjectStore, work, [](Shard&, int) {})) return;
  // Refused (the queue is full): the file is closed all the same; the parts are left to the
  // lifecycle rule and the next start's recovery.
  (void)shard_.TryRunBlocking(
      WorkClass::kFileCommit,
      [fd] {
        if (fd >= 0) close(fd);
        return 0;
      },
      [](Shard&, int) {});
}

void ObjectUpload::OnWritten(int fd, uint64_t written) {
  if (fd_ < 0) fd_ = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  written_ = written;
  MaybeSendPart();
}

void ObjectUpload::MaybeSendPart() {
  if (in_flight_ || failure_ || finished_ || fd_ < 0) return;
  const uint64_t part = etags_.size();
  // Only a part that more bytes follow: the last one goes with the commit, whatever its size.
  if (written_ <= (part + 1) * part_bytes_) return;
  if (temp_key_.empty()) temp_key_ = store_->NewTempKey();
  in_flight_ = true;
  struct Sent {
    S3Status status;
    std::string upload_id;
    std::string etag;
    bool image = false;
  };
  auto work = [store = store_, fd = fd_, key = temp_key_, id = upload_id_, part, size = part_bytes_,
               punch = !keep_bytes_] {
    Sent sent{.upload_id = id};
    if (sent.upload_id.empty()) {
      sent.status = store->StartParts(key, &sent.upload_id);
      if (!sent.status.ok()) return sent;
      sent.image = LooksLikeAnImage(fd);
    }
    sent.status = store->SendPart(key, sent.upload_id, static_cast<int>(part + 1), fd, part * size,
                                  size, &sent.etag);
    if (sent.status.ok() && punch && !sent.image) {
      // The part is the store's now: its bytes leave the disk (the file keeps its size).
      (void)fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      static_cast<off_t>(part * size), static_cast<off_t>(size));
    }
    return sent;
  };
  const bool queued = shard_.TryRunBlocking(
      WorkClass::kObjectStore, std::move(work), [self = shared_from_this()](Shard&, Sent sent) {
        self->OnPartSent(std::move(sent.status), std::move(sent.upload_id), std::move(sent.etag),
                         sent.image);
      });
  if (!queued) {
    OnPartSent(S3Status{.http = 503, .code = "Busy", .message = "--workers-object-queue is full"},
               {}, {}, false);
  }
}

void ObjectUpload::OnPartSent(S3Status status, std::string upload_id, std::string etag,
                              bool image) {
  in_flight_ = false;
  if (!upload_id.empty()) upload_id_ = std::move(upload_id);
  if (image) keep_bytes_ = true;
  if (!status.ok()) {
    RC_LOG(kWarn, "files: sending part %zu of an upload: %s", etags_.size() + 1,
           status.ToString().c_str());
    failure_ = std::move(status);
    if (fail) fail(503, "the object store does not take files now, retry later");
  } else {
    etags_.push_back(std::move(etag));
    // An image keeps its bytes on disk, as a file on --files-dir does: no bound but the upload's.
    allowed_end = keep_bytes_ ? UINT64_MAX : (etags_.size() + 2) * part_bytes_;
    if (wake) wake();
  }
  if (after_part_) {
    auto next = std::move(after_part_);
    after_part_ = nullptr;
    return next();
  }
  MaybeSendPart();
}

void ObjectUpload::Commit(std::string sha256, uint64_t size, Done done) {
  if (in_flight_) {
    after_part_ = [this, sha256 = std::move(sha256), size, done = std::move(done)]() mutable {
      Commit(std::move(sha256), size, std::move(done));
    };
    return;
  }
  if (failure_ || finished_) {
    Abandon();
    return done(shard_, failure_.value_or(S3Status{.code = "Abandoned"}));
  }
  // From here the work below owns the file and the multipart upload.
  finished_ = true;
  auto commit = [store = store_, fd = fd_, key = temp_key_, id = upload_id_, etags = etags_,
                 part_bytes = part_bytes_, sha256 = std::move(sha256), size]() mutable {
    if (id.empty() && size <= part_bytes) return store->CommitWhole(sha256, fd, size);
    if (key.empty()) key = store->NewTempKey();
    if (id.empty()) {
      S3Status started = store->StartParts(key, &id);
      if (!started.ok()) return started;
    }
    for (uint64_t part = etags.size(); part * part_bytes < size; ++part) {
      std::string etag;
      const uint64_t length = std::min(part_bytes, size - part * part_bytes);
      S3Status sent = store->SendPart(key, id, static_cast<int>(part + 1), fd, part * part_bytes,
                                      length, &etag);
      if (!sent.ok()) {
        store->AbortParts(key, id);
        return sent;
      }
      etags.push_back(std::move(etag));
    }
    return store->CommitParts(sha256, key, id, etags);
  };
  auto work = [commit = std::move(commit), fd = fd_]() mutable {
    S3Status status = commit();
    if (fd >= 0) close(fd);
    return status;
  };
  const bool queued = shard_.TryRunBlocking(
      WorkClass::kObjectStore, std::move(work),
      [done](Shard& shard, S3Status status) { done(shard, std::move(status)); });
  if (!queued) {
    finished_ = false;
    Abandon();
    done(shard_,
         S3Status{.http = 503, .code = "Busy", .message = "--workers-object-queue is full"});
    return;
  }
  fd_ = -1;
}

}  // namespace ringcast::files
