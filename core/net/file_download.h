// FileDownload: the body of an answer read from a file through the shard's io_uring and sent
// as the client reads it: the BodySource behind GET /files/{id}, free of the chat.
//
// Owner: its shard's thread; it owns itself (deleted once the answer has ended and its last
// file operation has completed).
//
// The file is opened with IORING_OP_OPENAT (5.6) and read with IORING_OP_READ (5.6) in
// kReadBytes pieces, each straight into the SharedFrame that is then queued on the connection
// (no copy on the shard): the next read starts as soon as a piece is queued, so the disk and
// the socket work at once, until the connection's queue holds half of --max-outbound-bytes;
// then it waits for the client to read (Shard::NotifyWhenWritable). A download thus holds at
// most about --max-outbound-bytes / 2 + kReadBytes, and not for ever: a client that takes no
// byte for --idle-timeout is disconnected (HttpDriver::OnTimer). Reads that would block run on
// io_uring's workers, never on the shard thread. (Measured against the worker pool's pread of the
// whole file, the static files' way: docs/architecture.md, "Streamed bodies".)
#pragma once

#include <cstdint>
#include <string>

#include "core/net/body_stream.h"
#include "core/net/http_exchange.h"

namespace ringcast {

class SharedFrame;
class Shard;

class FileDownload final : public BodySource, public IoTarget {
 public:
  static constexpr uint32_t kReadBytes = 256 * 1024;

  // Answers `deferred` with `head` (FormatHead's bytes, whose Content-Length is `length`) and
  // `length` bytes of `path` from `offset`. A file that cannot be opened is answered 503 (the
  // record names bytes this node cannot reach: a --files-dir not shared in a cluster), logged at
  // most once a minute per shard.
  static void Start(Shard& shard, const DeferredHttp& deferred, int status, std::string head,
                    std::string path, uint64_t offset, uint64_t length);

  void OnWritable() override;
  void OnGone() override;
  void OnIoComplete(uint32_t cookie, int32_t result) override;
  ~FileDownload() override;

 private:
  FileDownload(Shard& shard, const DeferredHttp& deferred, int status, std::string head,
               std::string path, uint64_t offset, uint64_t length);
  void ReadNext();
  void Finish(bool complete);  // Ends the answer (if still on) and frees this once idle.

  Shard& shard_;
  DeferredHttp deferred_;
  int status_;
  std::string head_;
  std::string path_;
  uint64_t offset_;     // The file position of the next read.
  uint64_t remaining_;  // Not yet read.
  uint32_t io_id_;
  int fd_ = -1;
  SharedFrame* piece_ = nullptr;  // Being read into.
  uint8_t* piece_data_ = nullptr;
  uint32_t piece_size_ = 0;
  uint32_t piece_filled_ = 0;
  bool op_in_flight_ = false;
  bool done_ = false;  // The answer has ended (or the connection has gone).
};

}  // namespace ringcast
