#include "core/net/file_download.h"

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/log.h"
#include "core/net/shared_frame.h"
#include "core/runtime/shard.h"

namespace ringcast {
namespace {
constexpr uint32_t kOpenCookie = 1;
constexpr uint32_t kReadCookie = 2;
constexpr uint32_t kCloseCookie = 3;

// A file that has a record but cannot be opened is a storage fault (in a cluster: a --files-dir
// that is not shared), and every request for it would log it again: one line at once, then at
// most one a minute per shard with the count in between, so clients retrying cannot flood the
// log.
constexpr std::chrono::seconds kMissingLogInterval{60};

void LogUnopenable(const std::string& path, int error) {
  struct Limiter {
    std::chrono::steady_clock::time_point next{};
    uint64_t suppressed = 0;
  };
  thread_local Limiter limiter;  // Per shard thread: no sharing, no lock.
  const auto now = std::chrono::steady_clock::now();
  if (now < limiter.next) {
    ++limiter.suppressed;
    return;
  }
  RC_LOG(kWarn,
         "files: cannot open %s: %s (answered 503; in a cluster --files-dir must be storage "
         "every node shares; %llu more such failures since the last line)",
         path.c_str(), strerror(error), static_cast<unsigned long long>(limiter.suppressed));
  limiter.next = now + kMissingLogInterval;
  limiter.suppressed = 0;
}
}  // namespace

void FileDownload::Start(Shard& shard, const DeferredHttp& deferred, int status, std::string head,
                         std::string path, uint64_t offset, uint64_t length) {
  auto* download =
      new FileDownload(shard, deferred, status, std::move(head), std::move(path), offset, length);
  io_uring_sqe* sqe = shard.NewIoSqe();
  io_uring_prep_openat(sqe, AT_FDCWD, download->path_.c_str(), O_RDONLY | O_CLOEXEC, 0);
  io_uring_sqe_set_data64(sqe, Shard::IoTag(download->io_id_, kOpenCookie));
  download->op_in_flight_ = true;
}

FileDownload::FileDownload(Shard& shard, const DeferredHttp& deferred, int status, std::string head,
                           std::string path, uint64_t offset, uint64_t length)
    : shard_(shard),
      deferred_(deferred),
      status_(status),
      head_(std::move(head)),
      path_(std::move(path)),
      offset_(offset),
      remaining_(length),
      io_id_(shard.AddIoTarget(this)) {}

FileDownload::~FileDownload() {
  shard_.RemoveIoTarget(io_id_);
  if (piece_ != nullptr) piece_->Release();
  if (fd_ >= 0) {
    // IORING_OP_CLOSE (5.6); its completion finds no target any more and is dropped.
    io_uring_sqe* sqe = shard_.NewIoSqe();
    io_uring_prep_close(sqe, fd_);
    io_uring_sqe_set_data64(sqe, Shard::IoTag(io_id_, kCloseCookie));
  }
}

void FileDownload::OnIoComplete(uint32_t cookie, int32_t result) {
  op_in_flight_ = false;
  if (cookie == kOpenCookie) {
    if (result < 0) {
      LogUnopenable(path_, -result);
      // Not 404: the record says the file exists, so its bytes are missing here (the next node
      // behind a balancer may have them), and a client or a proxy may try again.
      if (!done_) {
        shard_.AnswerDeferred(deferred_, 503, "application/json",
                              R"({"error":"file unavailable on this node"})");
      }
      done_ = true;
      return Finish(false);
    }
    fd_ = result;
    if (done_) return Finish(false);
    SharedFrame* head = SharedFrame::Copy(head_);
    head_.clear();
    head_.shrink_to_fit();
    if (!shard_.StreamAnswer(deferred_, status_, head, this)) {
      done_ = true;
      return Finish(false);
    }
    return;  // StreamAnswer called OnWritable, which started the first read.
  }
  if (done_) return Finish(false);  // The connection went while this read ran.
  if (result <= 0) {
    RC_LOG(kWarn, "files: reading %s: %s", path_.c_str(),
           result == 0 ? "the file is shorter than its record" : strerror(-result));
    return Finish(false);
  }
  piece_filled_ += static_cast<uint32_t>(result);
  offset_ += static_cast<uint64_t>(result);
  if (piece_filled_ < piece_size_) return ReadNext();  // A short read: the rest of the piece.
  SharedFrame* piece = piece_;
  piece_ = nullptr;
  remaining_ -= piece_size_;
  if (!shard_.StreamBytes(deferred_.conn, piece)) return Finish(false);
  if (remaining_ == 0) return Finish(true);
  if (shard_.StreamCongested(deferred_.conn)) {
    shard_.NotifyWhenWritable(deferred_.conn);
  } else {
    ReadNext();
  }
}

void FileDownload::OnWritable() {
  if (done_ || op_in_flight_) return;
  if (remaining_ == 0) return Finish(true);
  ReadNext();
}

void FileDownload::ReadNext() {
  if (piece_ == nullptr) {
    piece_size_ = static_cast<uint32_t>(std::min<uint64_t>(remaining_, kReadBytes));
    piece_filled_ = 0;
    piece_ = SharedFrame::Build(piece_size_, [this](uint8_t* out, size_t capacity) {
      piece_data_ = out;
      return capacity;
    });
  }
  // IORING_OP_READ (5.6) at an explicit offset.
  io_uring_sqe* sqe = shard_.NewIoSqe();
  io_uring_prep_read(sqe, fd_, piece_data_ + piece_filled_, piece_size_ - piece_filled_, offset_);
  io_uring_sqe_set_data64(sqe, Shard::IoTag(io_id_, kReadCookie));
  op_in_flight_ = true;
}

void FileDownload::OnGone() {
  done_ = true;
  if (!op_in_flight_) delete this;
}

void FileDownload::Finish(bool complete) {
  if (!done_) {
    done_ = true;
    shard_.EndStream(deferred_.conn, complete);
  }
  if (!op_in_flight_) delete this;
}

}  // namespace ringcast
