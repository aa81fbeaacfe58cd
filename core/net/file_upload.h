// FileUpload: a request body streamed into a temporary file through the shard's io_uring,
// hashed (SHA-256) as it goes: the BodySink behind POST /api/uploads, kept free of the chat so
// any route can take a file the same way.
//
// Owner: its shard's thread; it owns itself (created by Start, deleted once its last file
// operation has completed after the body ended, failed or was aborted).
//
// Pacing (the figure in docs/architecture.md, "Streamed bodies"): bytes are copied from the
// receive buffers into 256 KiB chunks; each full chunk is written with IORING_OP_WRITE (Linux
// 5.6) at its offset, at most kMaxWrites at once. Once kMaxBuffered bytes wait in chunks, the
// connection's receive is paused (Shard::PauseBody) until writes complete: the client is held
// back by TCP, the shard never waits on the disk, and an upload holds at most kMaxBuffered plus
// what the kernel had already received when the pause took effect. A write to a regular file
// that would block runs on io_uring's own workers (io-wq), never on the shard thread.
//
// The body is either the file itself, or multipart/form-data whose first file part is
// (proto/multipart.h). Past `max_bytes` of file the upload is refused at once with 413; any
// failure removes the temporary file (on a worker).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/net/body_stream.h"
#include "core/net/http_exchange.h"
#include "proto/multipart.h"

namespace ringcast {

class Shard;

// What a finished upload hands to its route. On success the route owns `fd` (the temporary
// file, written, not yet fsynced) and `temp_path`: it must commit (CommitStoredFile) or remove
// them. On failure (`status` != 0) nothing is left to clean.
struct UploadedFile {
  int status = 0;  // 0: ok; else the HTTP status to answer, with `error`.
  std::string error;
  int fd = -1;
  std::string temp_path;
  uint64_t size = 0;
  std::string sha256;         // Lowercase hex.
  std::string head;           // The file's first bytes (up to 16), for type sniffing.
  std::string part_filename;  // Multipart: the part's filename.
  std::string part_type;      // Multipart: the part's Content-Type ("" when absent).
};

// Who sends a file on while it is still streaming in (object storage's multipart upload,
// files/object_upload.h): told each time the file's bytes on disk without a gap grow, and in
// charge of how far ahead of what it has sent the upload may write (the disk it may take).
// Shard thread only.
class UploadParts {
 public:
  virtual ~UploadParts() = default;
  // The file's first `written` bytes are in `fd` (valid while the upload lives: dup it to keep).
  virtual void OnWritten(int fd, uint64_t written) = 0;
  // The upload failed or was aborted: nothing of it will be kept.
  virtual void OnAbandoned() = 0;

  // The upload pauses its body while it holds more than this many bytes of file.
  uint64_t allowed_end = UINT64_MAX;
  // Set by the upload while it lives: call it once allowed_end has grown.
  std::function<void()> wake;
  // Set by the upload while it lives: refuses the upload (`status`, `reason`), as when the
  // parts cannot be sent on.
  std::function<void(int status, std::string_view reason)> fail;
};

class FileUpload final : public BodySink, public IoTarget, public http::MultipartReader::Sink {
 public:
  static constexpr size_t kChunkBytes = 256 * 1024;
  static constexpr uint32_t kMaxWrites = 4;
  static constexpr uint64_t kMaxBuffered = 1 << 20;
  // Bytes past kMaxBuffered that arrived after the pause was asked for (the kernel's receives
  // already complete); beyond this the upload fails (503) rather than grow.
  static constexpr uint64_t kMaxOverrun = 8 << 20;

  struct Options {
    std::string temp_dir;  // On the same file system as the final place (rename).
    uint64_t max_bytes = 0;
    std::optional<std::string> boundary;  // multipart/form-data; nullopt: the raw body.
    std::shared_ptr<UploadParts> parts;   // Sent on as it streams in; null: kept whole.
  };
  using Done = std::function<void(Shard&, UploadedFile)>;

  // Starts the upload of the request being answered (`deferred`, from HttpExchange::StreamBody
  // with the returned sink): opens the temporary file on the ring. `done` runs once on the shard
  // with the outcome, unless the body is rejected (413, 400: answered here) or aborted.
  static FileUpload* Create(Shard& shard, Options options, Done done);
  void Begin(const DeferredHttp& deferred);

  // BodySink.
  void OnBodyData(std::span<const uint8_t> data) override;
  void OnBodyEnd() override;
  void OnBodyAbort() override;
  // IoTarget.
  void OnIoComplete(uint32_t cookie, int32_t result) override;
  // MultipartReader::Sink.
  void OnFileStart(std::string_view filename, std::string_view content_type) override;
  void OnFileData(std::span<const uint8_t> data) override;

  ~FileUpload() override;

 private:
  struct Chunk {
    std::unique_ptr<uint8_t[]> data;
    size_t size = 0;
    size_t written = 0;
    uint64_t offset = 0;
    uint32_t serial = 0;
    bool writing = false;
  };
  FileUpload(Shard& shard, Options options, Done done);
  void Append(std::span<const uint8_t> data);
  void SubmitWrites();
  void SubmitWrite(Chunk& chunk);
  // Refuses the upload: answered now while the body still streams, else through `done`.
  void Fail(int status, std::string_view reason);
  void MaybeFinish();
  void MaybeResume();

  Shard& shard_;
  Options options_;
  Done done_;
  DeferredHttp deferred_;
  uint32_t io_id_;
  std::optional<http::MultipartReader> multipart_;
  struct HashState;
  std::unique_ptr<HashState> hash_;
  std::string temp_path_;
  std::string head_;
  std::string part_filename_, part_type_;
  std::deque<Chunk> chunks_;
  int fd_ = -1;
  uint64_t size_ = 0;           // File bytes received.
  uint64_t buffered_ = 0;       // In chunks, not yet written.
  uint64_t reported_ = 0;       // Written without a gap, as last told to options_.parts.
  uint32_t ops_in_flight_ = 0;  // Open and writes.
  uint32_t writes_in_flight_ = 0;
  uint32_t next_serial_ = 1;
  bool opening_ = false;
  bool body_ended_ = false;
  bool failed_ = false;    // Refused or aborted: no `done`, the file is removed.
  bool finished_ = false;  // `done` called (or failed_).
  bool paused_ = false;
};

// On a worker (blocks): makes the temporary file permanent under its content address,
// <files_dir>/<sha[0:2]>/<sha[2:]>: fsync the file, rename it into place (or drop it when the
// same bytes are already stored), fsync the directory. Closes `fd`. Empty on success, else why.
std::string CommitStoredFile(const std::string& files_dir, int fd, const std::string& temp_path,
                             const std::string& sha256);
// The path of stored bytes.
std::string StoredFilePath(const std::string& files_dir, const std::string& sha256);
// At start (main thread): creates <files_dir> and `temp_dir` (this process's own, below
// <files_dir>/tmp: nodes sharing <files_dir> never touch each other's), and clears what a crash
// left in `temp_dir`: partial uploads are removed (they never became visible: they are only
// renamed once complete); files a sweep had moved aside (<sha256>.swept, chat/upload_sweeper.h)
// are put back in place, their hashes appended to *restored, for the sweep to decide again.
// Empty on success, else why.
std::string PrepareFileStore(const std::string& files_dir, const std::string& temp_dir,
                             std::vector<std::string>* restored);

}  // namespace ringcast
