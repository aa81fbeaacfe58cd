#include "files/files_migrate.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "chat/auth/encoding.h"
#include "core/log.h"

namespace ringcast::files {
namespace {

bool IsHex(std::string_view text, size_t size) {
  return text.size() == size && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// The stored files under `files_dir`: ab/cdef… (64 hex digits in all); tmp/ and anything else
// is not a stored file.
std::vector<std::string> StoredHashes(const std::string& files_dir) {
  std::vector<std::string> hashes;
  DIR* top = opendir(files_dir.c_str());
  if (top == nullptr) return hashes;
  while (dirent* sub = readdir(top)) {
    if (!IsHex(sub->d_name, 2)) continue;
    DIR* inner = opendir((files_dir + "/" + sub->d_name).c_str());
    if (inner == nullptr) continue;
    while (dirent* file = readdir(inner)) {
      if (IsHex(file->d_name, 62)) hashes.push_back(std::string(sub->d_name) + file->d_name);
    }
    closedir(inner);
  }
  closedir(top);
  return hashes;
}

// SHA-256 and MD5 of the whole file, read once.
bool HashFile(int fd, std::string* sha256, std::string* md5) {
  EVP_MD_CTX* sha = EVP_MD_CTX_new();
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(sha, EVP_sha256(), nullptr);
  EVP_DigestInit_ex(md, EVP_md5(), nullptr);
  std::vector<uint8_t> buffer(1 << 20);
  bool ok = true;
  for (off_t at = 0;;) {
    const ssize_t n = pread(fd, buffer.data(), buffer.size(), at);
    if (n < 0) {
      ok = false;
      break;
    }
    if (n == 0) break;
    EVP_DigestUpdate(sha, buffer.data(), static_cast<size_t>(n));
    EVP_DigestUpdate(md, buffer.data(), static_cast<size_t>(n));
    at += n;
  }
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned size = 0;
  EVP_DigestFinal_ex(sha, digest, &size);
  *sha256 = auth::HexEncode({digest, size});
  EVP_DigestFinal_ex(md, digest, &size);
  *md5 = auth::HexEncode({digest, size});
  EVP_MD_CTX_free(sha);
  EVP_MD_CTX_free(md);
  return ok;
}

enum class Outcome { kCopied, kSkipped, kFailed };

Outcome MigrateOne(const std::string& files_dir, ObjectStore& store, const std::string& hash,
                   uint64_t* bytes) {
  const std::string key = ObjectStore::KeyOf(hash);
  const std::string path = files_dir + "/" + key;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat info;
  if (fd < 0 || fstat(fd, &info) != 0) {
    RC_LOG(kError, "migrate: cannot read %s: %s", path.c_str(), std::strerror(errno));
    if (fd >= 0) close(fd);
    return Outcome::kFailed;
  }
  const uint64_t size = static_cast<uint64_t>(info.st_size);
  S3Client& client = store.client();
  S3Object present;
  if (client.Head(key, &present).ok() && present.size == size) {
    close(fd);
    return Outcome::kSkipped;
  }
  std::string sha256, md5;
  if (!HashFile(fd, &sha256, &md5) || sha256 != hash) {
    RC_LOG(kError, "migrate: %s: its bytes' SHA-256 is %s, not its name: not copied", path.c_str(),
           sha256.c_str());
    close(fd);
    return Outcome::kFailed;
  }
  S3Status status;
  const uint64_t part = store.options().part_bytes;
  if (size <= part) {
    std::string etag;
    status = client.Put(key, S3Body{.fd = fd, .offset = 0, .size = size},
                        "application/octet-stream", &etag);
    if (status.ok() && etag != md5) {
      status = S3Status{.http = 502,
                        .code = "BadDigest",
                        .message = "the object's ETag " + etag + " is not the file's MD5 " + md5};
    }
  } else {
    std::string id;
    status = client.CreateMultipart(key, "application/octet-stream", &id);
    std::vector<std::string> etags;
    for (uint64_t at = 0; status.ok() && at < size; at += part) {
      std::string etag;
      status = client.UploadPart(key, id, static_cast<int>(at / part + 1),
                                 S3Body{.fd = fd, .offset = at, .size = std::min(part, size - at)},
                                 &etag);
      etags.push_back(std::move(etag));
    }
    if (status.ok()) status = client.CompleteMultipart(key, id, etags);
    if (!status.ok() && !id.empty()) (void)client.AbortMultipart(key, id);
  }
  close(fd);
  if (status.ok()) {
    status = client.Head(key, &present);
    if (status.ok() && present.size != size) {
      status = S3Status{.http = 502, .code = "BadSize", .message = "the object's size differs"};
    }
  }
  if (!status.ok()) {
    RC_LOG(kError, "migrate: %s: %s", key.c_str(), status.ToString().c_str());
    return Outcome::kFailed;
  }
  *bytes += size;
  return Outcome::kCopied;
}

}  // namespace

MigrationReport MigrateFiles(const std::string& files_dir, ObjectStore& store, uint32_t threads) {
  const std::vector<std::string> hashes = StoredHashes(files_dir);
  MigrationReport report;
  report.files = hashes.size();
  std::atomic<size_t> next{0};
  std::mutex mutex;
  auto work = [&] {
    for (size_t i = next++; i < hashes.size(); i = next++) {
      uint64_t bytes = 0;
      const Outcome outcome = MigrateOne(files_dir, store, hashes[i], &bytes);
      std::lock_guard lock(mutex);
      report.copied += outcome == Outcome::kCopied;
      report.skipped += outcome == Outcome::kSkipped;
      report.failed += outcome == Outcome::kFailed;
      report.bytes_copied += bytes;
    }
  };
  std::vector<std::thread> pool;
  for (uint32_t i = 1; i < std::max<uint32_t>(1, threads); ++i) pool.emplace_back(work);
  work();
  for (std::thread& thread : pool) thread.join();
  return report;
}

}  // namespace ringcast::files
