#include "core/net/file_upload.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/runtime/shard.h"

namespace ringcast {
namespace {

constexpr uint32_t kOpenCookie = 0;
constexpr uint32_t kNopCookie = 0xFFFFFF;  // Wakes a failed upload to finish outside its call.
constexpr size_t kHeadBytes = 16;

std::string Hex(const uint8_t* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 15]);
  }
  return out;
}

// Removes a temporary file on a worker: unlink and close may wait on the disk.
void RemoveLater(Shard& shard, int fd, std::string path) {
  (void)shard.TryRunBlocking(
      WorkClass::kFileCommit,
      [fd, path = std::move(path)] {
        if (fd >= 0) close(fd);
        if (!path.empty()) unlink(path.c_str());
        return 0;
      },
      [](Shard&, int) {});
}

bool FsyncPath(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = fsync(fd) == 0;
  close(fd);
  return ok;
}

}  // namespace

struct FileUpload::HashState {
  HashState() : ctx(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~HashState() { EVP_MD_CTX_free(ctx); }
  EVP_MD_CTX* ctx;
};

FileUpload* FileUpload::Create(Shard& shard, Options options, Done done) {
  return new FileUpload(shard, std::move(options), std::move(done));
}

FileUpload::FileUpload(Shard& shard, Options options, Done done)
    : shard_(shard),
      options_(std::move(options)),
      done_(std::move(done)),
      io_id_(shard.AddIoTarget(this)),
      hash_(std::make_unique<HashState>()) {
  if (options_.boundary) multipart_.emplace(*options_.boundary);
  if (options_.parts) {
    options_.parts->wake = [this] { MaybeResume(); };
    options_.parts->fail = [this](int status, std::string_view reason) { Fail(status, reason); };
  }
}

FileUpload::~FileUpload() {
  if (options_.parts) {
    options_.parts->wake = nullptr;
    options_.parts->fail = nullptr;
  }
  shard_.RemoveIoTarget(io_id_);
}

void FileUpload::Begin(const DeferredHttp& deferred) {
  deferred_ = deferred;
  uint8_t random[12];
  RAND_bytes(random, sizeof(random));
  temp_path_ = options_.temp_dir;
  temp_path_.append("/").append(Hex(random, sizeof(random))).append(".part");
  // IORING_OP_OPENAT (5.6): O_EXCL so that a name clash fails rather than share a file. Readable:
  // the parts of an upload to object storage are read back from it while it is written.
  io_uring_sqe* sqe = shard_.NewIoSqe();
  io_uring_prep_openat(sqe, AT_FDCWD, temp_path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                       0600);
  io_uring_sqe_set_data64(sqe, Shard::IoTag(io_id_, kOpenCookie));
  opening_ = true;
  ++ops_in_flight_;
}

void FileUpload::OnBodyData(std::span<const uint8_t> data) {
  if (failed_) return;
  if (!multipart_) return Append(data);
  if (multipart_->Feed(data, *this) == http::MultipartReader::Status::kError) {
    Fail(400, multipart_->error());
  }
}

void FileUpload::OnFileStart(std::string_view filename, std::string_view content_type) {
  part_filename_ = filename;
  part_type_ = content_type;
}

void FileUpload::OnFileData(std::span<const uint8_t> data) { Append(data); }

void FileUpload::Append(std::span<const uint8_t> data) {
  if (failed_ || data.empty()) return;
  if (size_ + data.size() > options_.max_bytes) {
    return Fail(413, "file larger than --max-upload-bytes");
  }
  if (buffered_ + data.size() > kMaxBuffered + kMaxOverrun) {
    return Fail(503, "the disk is not keeping up, retry later");
  }
  EVP_DigestUpdate(hash_->ctx, data.data(), data.size());
  if (head_.size() < kHeadBytes) {
    head_.append(reinterpret_cast<const char*>(data.data()),
                 std::min(data.size(), kHeadBytes - head_.size()));
  }
  while (!data.empty()) {
    if (chunks_.empty() || chunks_.back().writing || chunks_.back().size == kChunkBytes) {
      Chunk chunk;
      chunk.data.reset(new uint8_t[kChunkBytes]);
      chunk.offset = size_;
      chunk.serial = next_serial_++ % kNopCookie;
      if (chunk.serial == kOpenCookie) chunk.serial = next_serial_++ % kNopCookie;
      chunks_.push_back(std::move(chunk));
    }
    Chunk& chunk = chunks_.back();
    const size_t n = std::min(data.size(), kChunkBytes - chunk.size);
    std::memcpy(chunk.data.get() + chunk.size, data.data(), n);
    chunk.size += n;
    size_ += n;
    buffered_ += n;
    data = data.subspan(n);
  }
  SubmitWrites();
  const bool parts_behind = options_.parts && size_ > options_.parts->allowed_end;
  if (!paused_ && (buffered_ >= kMaxBuffered || parts_behind)) {
    paused_ = true;
    shard_.PauseBody(deferred_.conn);
  }
}

void FileUpload::MaybeResume() {
  const bool parts_behind = options_.parts && size_ > options_.parts->allowed_end;
  if (paused_ && !failed_ && buffered_ < kMaxBuffered / 2 && !parts_behind) {
    paused_ = false;
    shard_.ResumeBody(deferred_.conn);
  }
}

void FileUpload::SubmitWrites() {
  if (fd_ < 0 || failed_) return;
  for (Chunk& chunk : chunks_) {
    if (writes_in_flight_ >= kMaxWrites) return;
    if (chunk.writing) continue;
    // Only full chunks while the body streams (fewer, larger writes); the tail at its end.
    if (chunk.size < kChunkBytes && !body_ended_) return;
    SubmitWrite(chunk);
  }
}

void FileUpload::SubmitWrite(Chunk& chunk) {
  io_uring_sqe* sqe = shard_.NewIoSqe();
  io_uring_prep_write(sqe, fd_, chunk.data.get() + chunk.written,
                      static_cast<unsigned>(chunk.size - chunk.written),
                      chunk.offset + chunk.written);
  io_uring_sqe_set_data64(sqe, Shard::IoTag(io_id_, chunk.serial));
  chunk.writing = true;
  ++writes_in_flight_;
  ++ops_in_flight_;
}

void FileUpload::OnIoComplete(uint32_t cookie, int32_t result) {
  --ops_in_flight_;
  if (cookie == kNopCookie) return MaybeFinish();
  if (cookie == kOpenCookie) {
    opening_ = false;
    if (result < 0) {
      RC_LOG(kWarn, "uploads: cannot create %s: %s", temp_path_.c_str(), strerror(-result));
      temp_path_.clear();  // Nothing to remove.
      Fail(503, "cannot store files now, retry later");
    } else {
      fd_ = result;
      SubmitWrites();
    }
    return MaybeFinish();
  }
  auto it = chunks_.begin();
  while (it != chunks_.end() && it->serial != cookie) ++it;
  CHECK(it != chunks_.end());
  --writes_in_flight_;
  it->writing = false;
  if (result <= 0 && !failed_) {
    RC_LOG(kWarn, "uploads: writing %s: %s", temp_path_.c_str(),
           result == 0 ? "no progress" : strerror(-result));
    Fail(result == -ENOSPC || result == -EDQUOT ? 507 : 500, "cannot write the file");
  } else if (result > 0) {
    it->written += static_cast<size_t>(result);
    if (it->written == it->size) {  // Else a short write: the rest goes again below.
      buffered_ -= it->size;
      chunks_.erase(it);
    }
  }
  SubmitWrites();
  // Chunks leave in order of their offsets once written: the first one left marks the gap.
  const uint64_t written = chunks_.empty() ? size_ : chunks_.front().offset;
  if (options_.parts && written > reported_ && !failed_) {
    reported_ = written;
    options_.parts->OnWritten(fd_, written);
  }
  MaybeResume();
  MaybeFinish();
}

void FileUpload::OnBodyEnd() {
  if (failed_) return;
  body_ended_ = true;
  if (multipart_ && !multipart_->file_complete()) {
    return Fail(400, multipart_->file_found() ? "multipart body ended inside the file part"
                                              : "no file part in the multipart body");
  }
  SubmitWrites();
  MaybeFinish();
}

void FileUpload::OnBodyAbort() {
  failed_ = true;
  finished_ = true;
  MaybeFinish();
}

void FileUpload::Fail(int status, std::string_view reason) {
  if (failed_) return;
  failed_ = true;
  if (!body_ended_) {
    shard_.RejectBody(deferred_.conn, status, reason);
  } else if (!finished_) {
    UploadedFile result;
    result.status = status;
    result.error = reason;
    done_(shard_, std::move(result));
  }
  finished_ = true;
  if (ops_in_flight_ == 0) {
    // Finish (remove the file, free this) from a completion: the caller may still be inside
    // one of this object's calls (the multipart reader's, say).
    io_uring_sqe* sqe = shard_.NewIoSqe();
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, Shard::IoTag(io_id_, kNopCookie));
    ++ops_in_flight_;
  }
}

void FileUpload::MaybeFinish() {
  if (ops_in_flight_ > 0) return;
  if (!failed_) {
    if (!body_ended_ || !chunks_.empty() || opening_) return;
    UploadedFile result;
    uint8_t digest[32];
    unsigned digest_size = 0;
    EVP_DigestFinal_ex(hash_->ctx, digest, &digest_size);
    result.fd = fd_;
    result.temp_path = temp_path_;
    result.size = size_;
    result.sha256 = Hex(digest, digest_size);
    result.head = std::move(head_);
    result.part_filename = std::move(part_filename_);
    result.part_type = std::move(part_type_);
    fd_ = -1;
    temp_path_.clear();
    finished_ = true;
    Done done = std::move(done_);
    Shard& shard = shard_;
    delete this;
    return done(shard, std::move(result));
  }
  if (fd_ >= 0 || !temp_path_.empty()) RemoveLater(shard_, fd_, temp_path_);
  if (options_.parts) options_.parts->OnAbandoned();
  delete this;
}

std::string StoredFilePath(const std::string& files_dir, const std::string& sha256) {
  std::string path = files_dir;
  path.append("/").append(sha256.substr(0, 2)).append("/").append(sha256.substr(2));
  return path;
}

std::string CommitStoredFile(const std::string& files_dir, int fd, const std::string& temp_path,
                             const std::string& sha256) {
  const bool synced = fsync(fd) == 0;
  const int sync_error = errno;
  close(fd);
  if (!synced) {
    unlink(temp_path.c_str());
    return std::string("fsync: ") + std::strerror(sync_error);
  }
  std::string dir = files_dir;
  dir.append("/").append(sha256.substr(0, 2));
  bool created_dir = false;
  if (mkdir(dir.c_str(), 0700) == 0) {
    created_dir = true;
  } else if (errno != EEXIST) {
    const int error = errno;
    unlink(temp_path.c_str());
    return std::string("mkdir ").append(dir).append(": ").append(std::strerror(error));
  }
  const std::string path = StoredFilePath(files_dir, sha256);
  struct stat info;
  if (stat(path.c_str(), &info) == 0) {
    unlink(temp_path.c_str());  // The same bytes are stored already: keep one copy.
    return {};
  }
  if (rename(temp_path.c_str(), path.c_str()) != 0) {
    const int error = errno;
    unlink(temp_path.c_str());
    return std::string("rename into ").append(path).append(": ").append(std::strerror(error));
  }
  // The rename is durable once both directories' entries are.
  if (!FsyncPath(dir) || (created_dir && !FsyncPath(files_dir))) {
    return std::string("fsync of the directory: ") + std::strerror(errno);
  }
  return {};
}

std::string PrepareFileStore(const std::string& files_dir, const std::string& temp_dir,
                             std::vector<std::string>* restored) {
  for (const std::string& dir : {files_dir, files_dir + "/tmp", temp_dir}) {
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return std::string("mkdir ").append(dir).append(": ").append(std::strerror(errno));
    }
  }
  DIR* listing = opendir(temp_dir.c_str());
  if (listing == nullptr) {
    return std::string("opendir ").append(temp_dir).append(": ").append(std::strerror(errno));
  }
  static constexpr std::string_view kSwept = ".swept";
  size_t removed = 0;
  while (dirent* entry = readdir(listing)) {
    const std::string_view name = entry->d_name;
    if (name.ends_with(".part")) {
      if (unlinkat(dirfd(listing), entry->d_name, 0) == 0) ++removed;
      continue;
    }
    if (!name.ends_with(kSwept)) continue;
    const std::string hash(name.substr(0, name.size() - kSwept.size()));
    if (hash.size() != 64 || hash.find_first_not_of("0123456789abcdef") != std::string::npos) {
      continue;
    }
    // The only copy of bytes an upload may name again: back in place (EEXIST: stored anew).
    const std::string path = StoredFilePath(files_dir, hash);
    mkdir(path.substr(0, path.rfind('/')).c_str(), 0700);
    if (linkat(dirfd(listing), entry->d_name, AT_FDCWD, path.c_str(), 0) != 0 && errno != EEXIST) {
      RC_LOG(kWarn, "uploads: cannot put %s/%s back at %s: %s", temp_dir.c_str(), entry->d_name,
             path.c_str(), std::strerror(errno));
      continue;
    }
    unlinkat(dirfd(listing), entry->d_name, 0);
    if (restored) restored->push_back(hash);
  }
  closedir(listing);
  if (removed > 0) RC_LOG(kInfo, "uploads: removed %zu partial uploads left by a crash", removed);
  if (restored && !restored->empty()) {
    RC_LOG(kInfo, "uploads: put back %zu files a sweep had moved aside when it stopped",
           restored->size());
  }
  return {};
}

}  // namespace ringcast
