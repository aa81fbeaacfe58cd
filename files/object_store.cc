#include "files/object_store.h"

#include <openssl/rand.h>

#include <chrono>
#include <set>
#include <thread>

#include "chat/auth/encoding.h"

namespace ringcast::files {
namespace {

constexpr std::string_view kTempPrefix = "tmp/";
constexpr std::string_view kSweptPrefix = "swept/";

std::string RandomHex(size_t bytes) {
  std::vector<uint8_t> random(bytes);
  RAND_bytes(random.data(), static_cast<int>(random.size()));
  return auth::HexEncode(random);
}

}  // namespace

ObjectStore::ObjectStore(ObjectStoreOptions options)
    : options_(std::move(options)), client_(options_.location) {}

std::string ObjectStore::KeyOf(std::string_view sha256) {
  std::string key(sha256.substr(0, 2));
  key.append("/").append(sha256.substr(2));
  return key;
}

std::string ObjectStore::NewTempKey() const {
  std::string key(kTempPrefix);
  key.append(options_.node).append("/").append(RandomHex(12));
  return key;
}

std::string ObjectStore::SweptKey(std::string_view sha256) const {
  std::string key(kSweptPrefix);
  key.append(options_.node).append("/").append(sha256);
  return key;
}

S3Status ObjectStore::Retried(const std::function<S3Status()>& call) {
  S3Status status;
  auto pause = std::chrono::milliseconds(100);
  for (int attempt = 1;; ++attempt) {
    status = call();
    if (status.ok() || !status.transient() || attempt >= options_.attempts) return status;
    std::this_thread::sleep_for(pause);
    pause *= 4;
  }
}

S3Status ObjectStore::StartParts(const std::string& temp_key, std::string* upload_id) {
  return Retried([&] { return client_.CreateMultipart(temp_key, "", upload_id); });
}

S3Status ObjectStore::SendPart(const std::string& temp_key, const std::string& upload_id, int part,
                               int fd, uint64_t offset, uint64_t size, std::string* etag) {
  const S3Body body{.fd = fd, .offset = offset, .size = size};
  return Retried([&] { return client_.UploadPart(temp_key, upload_id, part, body, etag); });
}

void ObjectStore::AbortParts(const std::string& temp_key, const std::string& upload_id) {
  (void)Retried([&] { return client_.AbortMultipart(temp_key, upload_id); });
}

S3Status ObjectStore::CommitWhole(const std::string& sha256, int fd, uint64_t size) {
  const std::string key = KeyOf(sha256);
  S3Object existing;
  S3Status status = Retried([&] { return client_.Head(key, &existing); });
  if (status.ok()) return status;  // The same bytes are stored already.
  if (!status.not_found()) return status;
  const S3Body body{.fd = fd, .offset = 0, .size = size};
  return Retried([&] { return client_.Put(key, body, "application/octet-stream"); });
}

S3Status ObjectStore::CommitParts(const std::string& sha256, const std::string& temp_key,
                                  const std::string& upload_id,
                                  const std::vector<std::string>& etags) {
  S3Status status = Retried([&] { return client_.CompleteMultipart(temp_key, upload_id, etags); });
  if (!status.ok()) {
    AbortParts(temp_key, upload_id);
    return status;
  }
  const std::string key = KeyOf(sha256);
  S3Object existing;
  status = Retried([&] { return client_.Head(key, &existing); });
  if (status.not_found()) status = Retried([&] { return client_.Copy(temp_key, key); });
  // The temporary object goes either way; if this fails the lifecycle rule on tmp/ takes it.
  (void)Retried([&] { return client_.Delete(temp_key); });
  return status;
}

std::vector<std::string> ObjectStore::RemoveUnnamed(std::vector<std::string> hashes,
                                                    const UnnamedQuery& unnamed) {
  auto candidates = unnamed(std::move(hashes));
  if (!candidates || candidates->empty()) return {};  // Kept: a leak of bytes, never a loss.
  std::vector<std::string> aside;
  for (const std::string& hash : *candidates) {
    const S3Status copied = Retried([&] { return client_.Copy(KeyOf(hash), SweptKey(hash)); });
    if (copied.ok()) aside.push_back(hash);  // Else not found (swept by another node) or kept.
  }
  if (aside.empty()) return {};
  std::vector<std::string> keys;
  for (const std::string& hash : aside) keys.push_back(KeyOf(hash));
  std::vector<std::string> failed;
  for (size_t at = 0; at < keys.size(); at += 1000) {
    const size_t count = std::min<size_t>(1000, keys.size() - at);
    (void)Retried([&] { return client_.DeleteMany(std::span(keys).subspan(at, count), &failed); });
  }
  // Asked again now that the objects are gone: an upload of the same bytes may have written its
  // record meanwhile (and found the object there, so it did not write it again).
  auto still = unnamed(aside);
  const std::set<std::string> gone =
      still ? std::set<std::string>(still->begin(), still->end()) : std::set<std::string>();
  std::vector<std::string> removed;
  std::vector<std::string> swept_keys;
  for (const std::string& hash : aside) {
    if (!gone.contains(hash)) {
      const S3Status back = Retried([&] { return client_.Copy(SweptKey(hash), KeyOf(hash)); });
      if (!back.ok()) continue;  // The copy aside stays, for Recover at the next start.
    } else {
      removed.push_back(hash);
    }
    swept_keys.push_back(SweptKey(hash));
  }
  std::vector<std::string> ignored;
  for (size_t at = 0; at < swept_keys.size(); at += 1000) {
    const size_t count = std::min<size_t>(1000, swept_keys.size() - at);
    (void)Retried(
        [&] { return client_.DeleteMany(std::span(swept_keys).subspan(at, count), &ignored); });
  }
  return removed;
}

std::string ObjectStore::Recover(std::vector<std::string>* restored) {
  std::vector<S3Upload> open;
  S3Status status = Retried([&] {
    open.clear();
    return client_.ListMultipart(std::string(kTempPrefix) + options_.node + "/", &open);
  });
  if (!status.ok()) return "listing multipart uploads: " + status.ToString();
  for (const S3Upload& upload : open) AbortParts(upload.key, upload.upload_id);
  const std::string swept = std::string(kSweptPrefix) + options_.node + "/";
  std::string token;
  do {
    std::vector<S3Object> page;
    status = Retried([&] { return client_.List(swept, &token, &page); });
    if (!status.ok()) return "listing " + swept + ": " + status.ToString();
    for (const S3Object& object : page) {
      const std::string hash = object.key.substr(swept.size());
      S3Object existing;
      S3Status here = Retried([&] { return client_.Head(KeyOf(hash), &existing); });
      if (here.not_found()) here = Retried([&] { return client_.Copy(object.key, KeyOf(hash)); });
      if (!here.ok()) return "putting back " + object.key + ": " + here.ToString();
      (void)Retried([&] { return client_.Delete(object.key); });
      restored->push_back(hash);
    }
  } while (!token.empty());
  return {};
}

}  // namespace ringcast::files
