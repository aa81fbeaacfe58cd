#include "files/object_download.h"

#include <cstring>

#include "core/log.h"
#include "core/net/shared_frame.h"
#include "core/runtime/shard.h"

namespace ringcast::files {
namespace {

// One window: `length` bytes from `offset`, in pieces of ObjectDownload::kPieceBytes. On a
// worker. A window that fails part-way is asked for again whole (the store's answer may be
// cut by a restart): at most the store's attempts.
S3Status FetchWindow(ObjectStore& store, const std::string& key, uint64_t offset, uint64_t length,
                     std::vector<SharedFrame*>* pieces) {
  S3Status status;
  for (int attempt = 1;; ++attempt) {
    uint8_t* data = nullptr;
    uint64_t filled = 0;  // In the last piece.
    uint64_t got = 0;
    status = store.client().Get(key, offset, length, [&](std::span<const uint8_t> bytes) {
      while (!bytes.empty()) {
        if (got + bytes.size() > length) return false;  // More than asked: not this object.
        if (data == nullptr || filled == ObjectDownload::kPieceBytes) {
          const uint64_t size = std::min(ObjectDownload::kPieceBytes, length - got);
          pieces->push_back(SharedFrame::Build(size, [&](uint8_t* out, size_t capacity) {
            data = out;
            return capacity;
          }));
          filled = 0;
        }
        const size_t n = static_cast<size_t>(
            std::min<uint64_t>(bytes.size(), ObjectDownload::kPieceBytes - filled));
        std::memcpy(data + filled, bytes.data(), n);
        filled += n;
        got += n;
        bytes = bytes.subspan(n);
      }
      return true;
    });
    if (status.ok() && got != length) {
      status = S3Status{.http = 502,
                        .code = "ShortObject",
                        .message = "the store gave fewer bytes than the record has"};
    }
    if (status.ok()) return status;
    for (SharedFrame* piece : *pieces) piece->Release();
    pieces->clear();
    if (!status.transient() || attempt >= store.options().attempts) return status;
  }
}

}  // namespace

void ObjectDownload::Start(Shard& shard, const DeferredHttp& deferred, int status, std::string head,
                           std::shared_ptr<ObjectStore> store, std::string key, uint64_t offset,
                           uint64_t length) {
  auto* download = new ObjectDownload(shard, deferred, status, std::move(head), std::move(store),
                                      std::move(key), offset, length);
  download->FetchNext();
}

ObjectDownload::ObjectDownload(Shard& shard, const DeferredHttp& deferred, int status,
                               std::string head, std::shared_ptr<ObjectStore> store,
                               std::string key, uint64_t offset, uint64_t length)
    : shard_(shard),
      deferred_(deferred),
      status_(status),
      head_(std::move(head)),
      store_(std::move(store)),
      key_(std::move(key)),
      offset_(offset),
      remaining_(length) {}

void ObjectDownload::FetchNext() {
  const uint64_t length = std::min(remaining_, kWindowBytes);
  fetching_ = true;
  struct Window {
    S3Status status;
    std::vector<SharedFrame*> pieces;
    uint64_t bytes = 0;
  };
  const bool queued = shard_.TryRunBlocking(
      WorkClass::kObjectStore,
      [store = store_, key = key_, offset = offset_, length] {
        Window window{.bytes = length};
        window.status = FetchWindow(*store, key, offset, length, &window.pieces);
        return window;
      },
      [this](Shard&, Window window) {
        OnWindow(std::move(window.status), std::move(window.pieces), window.bytes);
      });
  if (!queued) {
    OnWindow(S3Status{.http = 503, .code = "Busy", .message = "--workers-object-queue is full"}, {},
             0);
  }
}

void ObjectDownload::OnWindow(S3Status status, std::vector<SharedFrame*> pieces, uint64_t bytes) {
  fetching_ = false;
  if (done_ || !status.ok()) {
    for (SharedFrame* piece : pieces) piece->Release();
    if (!done_ && !head_.empty()) {
      RC_LOG(kWarn, "files: reading %s from the object store: %s", key_.c_str(),
             status.ToString().c_str());
      shard_.AnswerDeferred(deferred_, 503, "application/json",
                            R"({"error":"file unavailable, retry later"})");
      done_ = true;
    }
    return Finish(false);
  }
  offset_ += bytes;
  remaining_ -= bytes;
  answering_ = true;  // StreamAnswer calls OnWritable: the pieces below go first.
  if (!head_.empty()) {
    SharedFrame* head = SharedFrame::Copy(head_);
    head_.clear();
    head_.shrink_to_fit();
    if (!shard_.StreamAnswer(deferred_, status_, head, this)) {
      for (SharedFrame* piece : pieces) piece->Release();
      done_ = true;
      return Finish(false);
    }
  }
  answering_ = false;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (!shard_.StreamBytes(deferred_.conn, pieces[i])) {
      for (size_t j = i + 1; j < pieces.size(); ++j) pieces[j]->Release();
      return Finish(false);
    }
  }
  if (remaining_ == 0) return Finish(true);
  if (shard_.StreamCongested(deferred_.conn)) {
    shard_.NotifyWhenWritable(deferred_.conn);
  } else {
    FetchNext();
  }
}

void ObjectDownload::OnWritable() {
  if (done_ || fetching_ || answering_) return;
  if (remaining_ == 0) return Finish(true);
  FetchNext();
}

void ObjectDownload::OnGone() {
  done_ = true;
  if (!fetching_) delete this;
}

void ObjectDownload::Finish(bool complete) {
  if (!done_) {
    done_ = true;
    shard_.EndStream(deferred_.conn, complete);
  }
  if (!fetching_) delete this;
}

}  // namespace ringcast::files
