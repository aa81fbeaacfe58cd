#include "chat/upload_sweeper.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include "core/log.h"
#include "core/net/file_upload.h"
#include "storage/await_reply.h"

namespace ringcast::chat {
namespace {

constexpr int64_t kRescanMs = 60'000;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

UploadSweeper::UploadSweeper(storage::UploadStore& store, UploadSweepOptions options)
    : store_(store), options_(std::move(options)) {}

UploadSweeper::~UploadSweeper() { Stop(); }

void UploadSweeper::Start() {
  thread_.Start("upload-sweeper", PeriodicThread::QuarterOf(options_.ttl),
                [this] { return Pass(); });
}

void UploadSweeper::Stop() { thread_.Stop(); }

bool UploadSweeper::Pass() {
  const int64_t ttl_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.ttl).count();
  // Upload times are wall-clock (they are compared with other nodes' and kept across restarts).
  const int64_t cutoff = WallMs() - ttl_ms - std::min<int64_t>(ttl_ms, 60'000);
  if (!rechecked_) {
    rechecked_ = true;
    if (!options_.recheck.empty()) RemoveUnnamed(options_.recheck);
  }
  size_t swept = 0;
  for (;;) {
    if (thread_.stopping()) return false;
    auto deleted = storage::AwaitReply<std::vector<storage::UploadRecord>>([&](auto reply) {
      store_.DeleteOrphanUploads(scanned_to_, cutoff, kBatch, std::move(reply));
    });
    if (!deleted.ok()) {
      RC_LOG(kWarn, "uploads: the sweep's store call failed: %s",
             deleted.status().ToString().c_str());
      return true;  // The next pass asks again, from the same point.
    }
    swept += deleted->size();
    if (!deleted->empty()) RemoveFiles(*deleted);
    if (deleted->size() < kBatch) break;
  }
  scanned_to_ = std::max<int64_t>(scanned_to_, cutoff - kRescanMs);
  // The files of uploads that message deletions released (their records are gone already).
  for (;;) {
    if (thread_.stopping()) return false;
    auto released = storage::AwaitReply<std::vector<std::string>>(
        [&](auto reply) { store_.TakeReleasedFiles(kBatch, std::move(reply)); });
    if (!released.ok() || released->empty()) break;
    const size_t taken = released->size();
    RemoveUnnamed(std::move(*released));
    if (taken < kBatch) break;
  }
  if (swept > 0) RC_LOG(kInfo, "uploads: deleted %zu uploads no message carries", swept);
  return true;
}

void UploadSweeper::RemoveFiles(const std::vector<storage::UploadRecord>& deleted) {
  std::set<std::string> named;
  for (const storage::UploadRecord& record : deleted) {
    named.insert(record.sha256);
    if (!record.thumb_sha256.empty()) named.insert(record.thumb_sha256);
  }
  RemoveUnnamed(std::vector<std::string>(named.begin(), named.end()));
}

void UploadSweeper::RemoveUnnamed(std::vector<std::string> hashes) {
  if (options_.objects) {
    options_.objects->RemoveUnnamed(
        std::move(hashes),
        [this](std::vector<std::string> asked) -> std::optional<std::vector<std::string>> {
          auto unnamed = storage::AwaitReply<std::vector<std::string>>(
              [&](auto reply) { store_.UnreferencedFiles(std::move(asked), std::move(reply)); });
          if (!unnamed.ok()) return std::nullopt;
          return std::move(*unnamed);
        });
    return;
  }
  auto unreferenced = storage::AwaitReply<std::vector<std::string>>(
      [&](auto reply) { store_.UnreferencedFiles(std::move(hashes), std::move(reply)); });
  if (!unreferenced.ok()) return;  // Files kept: a leak of bytes, never a loss.
  std::vector<std::string> moved;
  for (const std::string& hash : *unreferenced) {
    const std::string path = StoredFilePath(options_.files_dir, hash);
    const std::string aside = options_.temp_dir + "/" + hash + ".swept";
    if (rename(path.c_str(), aside.c_str()) == 0) {
      moved.push_back(hash);
    } else if (errno != ENOENT) {  // ENOENT: another node's sweep took it first.
      RC_LOG(kWarn, "uploads: cannot remove %s: %s", path.c_str(), std::strerror(errno));
    }
  }
  if (moved.empty()) return;
  // Asked again now that the files are out of sight: an upload of the same bytes may have
  // written its record since (its file is committed after its record).
  auto still = storage::AwaitReply<std::vector<std::string>>(
      [&](auto reply) { store_.UnreferencedFiles(moved, std::move(reply)); });
  const std::set<std::string> gone =
      still.ok() ? std::set<std::string>(still->begin(), still->end()) : std::set<std::string>();
  for (const std::string& hash : moved) {
    const std::string aside = options_.temp_dir + "/" + hash + ".swept";
    if (!gone.contains(hash)) {
      // Named again (or the store could not say): back in place. EEXIST: that upload has
      // committed its own copy of the same bytes meanwhile.
      const std::string path = StoredFilePath(options_.files_dir, hash);
      if (link(aside.c_str(), path.c_str()) != 0 && errno != EEXIST) {
        RC_LOG(kWarn, "uploads: cannot put back %s: %s", path.c_str(), std::strerror(errno));
        continue;  // Left in the temporary folder rather than lost.
      }
    }
    unlink(aside.c_str());
  }
}

}  // namespace ringcast::chat
