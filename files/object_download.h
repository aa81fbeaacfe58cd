// ObjectDownload: the body of GET /files/{id} read from the object store and sent through the
// node (--files-serve stream), the object-storage counterpart of FileDownload
// (core/net/file_download.h).
//
// The object is read in windows of kWindowBytes, each one ranged GET on a worker (kObjectStore
// class) that lands in kPieceBytes SharedFrames, which the shard queues on the connection as
// they are: the next window is asked for while the connection's queue is under half of
// --max-outbound-bytes, else once it has drained (Shard::NotifyWhenWritable). A download thus
// holds at most about --max-outbound-bytes / 2 + one window, ties up no worker while its client
// is slow, and a client that takes nothing for --idle-timeout is disconnected as for a file.
// The answer's head goes out with the first window, so an object the store cannot give is
// answered 503 (the record names it: the store is down or lost it), not a cut body.
//
// Owner: its shard's thread; it owns itself (deleted once the answer has ended and no window is
// on its way).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/net/body_stream.h"
#include "core/net/http_exchange.h"
#include "files/object_store.h"

namespace ringcast {
class SharedFrame;
class Shard;
}  // namespace ringcast

namespace ringcast::files {

class ObjectDownload final : public BodySource {
 public:
  static constexpr uint64_t kWindowBytes = 1 << 20;
  static constexpr uint64_t kPieceBytes = 256 * 1024;

  // Answers `deferred` with `head` (FormatHead's bytes, whose Content-Length is `length`) and
  // `length` bytes of the object at `key` from `offset` (length > 0).
  static void Start(Shard& shard, const DeferredHttp& deferred, int status, std::string head,
                    std::shared_ptr<ObjectStore> store, std::string key, uint64_t offset,
                    uint64_t length);

  void OnWritable() override;
  void OnGone() override;

 private:
  ObjectDownload(Shard& shard, const DeferredHttp& deferred, int status, std::string head,
                 std::shared_ptr<ObjectStore> store, std::string key, uint64_t offset,
                 uint64_t length);
  void FetchNext();
  void OnWindow(S3Status status, std::vector<SharedFrame*> pieces, uint64_t bytes);
  void Finish(bool complete);

  Shard& shard_;
  DeferredHttp deferred_;
  int status_;
  std::string head_;  // Sent with the first window.
  std::shared_ptr<ObjectStore> store_;
  std::string key_;
  uint64_t offset_;     // The object position of the next window.
  uint64_t remaining_;  // Not yet fetched.
  bool fetching_ = false;
  bool answering_ = false;  // Inside OnWindow: its pieces go before anything else.
  bool done_ = false;       // The answer has ended (or the connection has gone).
};

}  // namespace ringcast::files
