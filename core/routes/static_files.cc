#include "core/routes/static_files.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <utility>

#include "core/log.h"
#include "core/runtime/shard.h"
#include "proto/url_path.h"

namespace ringcast {
namespace {

constexpr std::string_view kIndex = "index.html";
constexpr std::string_view kSdkMount = "sdk";  // --sdk-root's path segment (/sdk/...).

// Whether a checked relative path is the SDK's mount or below it ("sdk", "sdk/index.js").
bool InSdkMount(std::string_view relative) {
  return relative.starts_with(kSdkMount) &&
         (relative.size() == kSdkMount.size() || relative[kSdkMount.size()] == '/');
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// openat2 (Linux 5.6; glibc 2.36 has no wrapper) below `dir`: RESOLVE_BENEATH refuses absolute
// paths, ".." above `dir` and symbolic links that lead out of it (EXDEV), all in the kernel, so
// no check-then-open race. O_NONBLOCK: opening a FIFO must not wait for a writer.
int OpenBeneath(int dir, const std::string& path) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(syscall(SYS_openat2, dir, path.c_str(), &how, sizeof(how)));
}

std::string Error(const StaticFileRequest& request, int status, std::string_view reason,
                  std::string_view extra_headers = {}) {
  return HttpExchange::FormatError(request.keep_alive, status, reason, extra_headers, request.head);
}

FramePtr Bytes(std::string_view bytes) { return FramePtr(SharedFrame::Copy(bytes)); }

// An open() or stat() failure: absent, refused or outside the root look the same (404) so that
// nothing about the file system leaks; running out of descriptors or memory is temporary.
FramePtr OpenError(const StaticFileRequest& request, int error) {
  switch (error) {
    case ENOENT:
    case ENOTDIR:
    case EXDEV:  // A symbolic link out of the root, or an absolute one.
    case ELOOP:
    case EACCES:
    case EPERM:
    case ENAMETOOLONG:
    case ENXIO:  // A socket, or a device without its driver.
      return Bytes(Error(request, 404, "not found"));
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EAGAIN:
      return Bytes(Error(request, 503, "cannot open files now, retry later", "Retry-After: 1\r\n"));
    default:
      RC_LOG(kWarn, "static files: opening %s in %s: %s", request.relative.c_str(),
             request.root.c_str(), std::strerror(error));
      return Bytes(Error(request, 500, "cannot read the file"));
  }
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '/';
}

// "/docs" → "/docs/": built from the checked path (re-encoded), never from the request's bytes,
// so "//evil.example" cannot become a redirect to another host.
std::string DirectoryLocation(const StaticFileRequest& request) {
  std::string location = request.mount;
  location.push_back('/');
  for (char c : request.relative) {
    const auto byte = static_cast<unsigned char>(c);
    if (IsUnreserved(byte)) {
      location.push_back(c);
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof(escaped), "%%%02X", byte);
      location.append(escaped);
    }
  }
  location.push_back('/');
  if (!request.query.empty()) location.append("?").append(request.query);
  return location;
}

std::string MakeEtag(const struct stat& info) {
  const uint64_t mtime_ns = static_cast<uint64_t>(info.st_mtim.tv_sec) * 1000000000u +
                            static_cast<uint64_t>(info.st_mtim.tv_nsec);
  char etag[48];
  std::snprintf(etag, sizeof(etag), "\"%" PRIx64 "-%" PRIx64 "\"",
                static_cast<uint64_t>(info.st_size), mtime_ns);
  return etag;
}

// Reads exactly `size` bytes from the start of `fd` into `out`; false when the file ended
// sooner (it was truncated while being served) or a read failed.
bool ReadWhole(int fd, uint8_t* out, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, out + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// The status of a response ServeStaticFile formatted ("HTTP/1.1 200 OK..."), for the metrics.
int StatusOf(const SharedFrame& response) {
  constexpr size_t kAt = std::string_view("HTTP/1.1 ").size();
  const std::span<const uint8_t> bytes = response.bytes();
  if (bytes.size() < kAt + 3) return 0;
  return (bytes[kAt] - '0') * 100 + (bytes[kAt + 1] - '0') * 10 + (bytes[kAt + 2] - '0');
}

}  // namespace

std::string_view StaticContentType(std::string_view file_name) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},  // RFC 9239.
      {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"json", "application/json"},
      {"map", "application/json"},  // Source maps.
      {"webmanifest", "application/manifest+json"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/x-icon"},
      {"woff2", "font/woff2"},
      {"woff", "font/woff"},
      {"txt", "text/plain; charset=utf-8"},
      {"wasm", "application/wasm"},
  };
  const size_t slash = file_name.rfind('/');
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  const size_t dot = file_name.rfind('.');
  if (dot != std::string_view::npos && dot + 1 < file_name.size()) {
    const std::string_view extension = file_name.substr(dot + 1);
    for (const auto& [name, type] : kTypes) {
      if (http::EqualsIgnoreCase(extension, name)) return type;
    }
  }
  return "application/octet-stream";
}

bool EtagMatches(std::string_view if_none_match, std::string_view etag) {
  auto trim = [](std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
  };
  if (trim(if_none_match) == "*") return true;
  while (!if_none_match.empty()) {
    const size_t comma = if_none_match.find(',');
    std::string_view tag = trim(if_none_match.substr(0, comma));
    if (tag.starts_with("W/")) tag.remove_prefix(2);  // Weak comparison: W/"x" matches "x".
    if (tag == etag) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

FramePtr ServeStaticFile(const StaticFileRequest& request) {
  Fd root(open(request.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) return OpenError(request, errno);
  std::string path = request.relative.empty() ? std::string(".") : request.relative;
  Fd file(OpenBeneath(root.get(), path));
  if (file.get() < 0) return OpenError(request, errno);
  struct stat info;
  if (fstat(file.get(), &info) != 0) return OpenError(request, errno);
  if (request.trailing_slash && !S_ISDIR(info.st_mode)) {
    return Bytes(Error(request, 404, "not found"));  // "/app.js/": a file is no directory.
  }
  if (S_ISDIR(info.st_mode)) {
    // A directory is served as its index.html, never listed.
    path = request.relative.empty() ? std::string(kIndex) : path + "/" + std::string(kIndex);
    file = Fd(OpenBeneath(root.get(), path));
    if (file.get() < 0) return OpenError(request, errno);
    if (fstat(file.get(), &info) != 0) return OpenError(request, errno);
    if (S_ISREG(info.st_mode) && !request.trailing_slash && !request.relative.empty()) {
      // Relative links in the index resolve against the directory only with its '/'.
      std::string location = "Location: ";
      location.append(DirectoryLocation(request)).append("\r\n");
      return Bytes(HttpExchange::FormatHead(request.keep_alive, 301, "text/plain; charset=utf-8", 0,
                                            location));
    }
  }
  if (!S_ISREG(info.st_mode)) return Bytes(Error(request, 404, "not found"));
  const uint64_t size = static_cast<uint64_t>(info.st_size);
  if (size > request.max_bytes) {
    return Bytes(Error(request, 500, "file larger than --max-static-bytes"));
  }

  const std::string etag = MakeEtag(info);
  const std::string_view type = StaticContentType(path);
  std::string headers = "ETag: ";
  headers.append(etag).append("\r\nCache-Control: ");
  if (type.starts_with("text/html") || request.max_age_s == 0) {
    headers.append("no-cache");
  } else {
    headers.append("public, max-age=").append(std::to_string(request.max_age_s));
  }
  headers.append("\r\nX-Content-Type-Options: nosniff\r\n");
  // Module scripts of another origin's page are fetched in CORS mode: without this header the
  // browser refuses them. Safe for public files that are fetched without credentials.
  if (request.any_origin) headers.append("Access-Control-Allow-Origin: *\r\n");
  if (!request.if_none_match.empty() && EtagMatches(request.if_none_match, etag)) {
    // RFC 9110 §15.4.5: the validators and caching headers of the 200, no content (and no
    // Content-Length, which would have to be the 200's).
    std::string head = "HTTP/1.1 304 Not Modified\r\n";
    head.append(headers);
    if (!request.keep_alive) head.append("Connection: close\r\n");
    head.append("\r\n");
    return Bytes(head);
  }
  const std::string head = HttpExchange::FormatHead(request.keep_alive, 200, type, size, headers);
  if (request.head) return Bytes(head);
  bool complete = false;
  FramePtr response(SharedFrame::Build(head.size() + size, [&](uint8_t* out, size_t capacity) {
    std::memcpy(out, head.data(), head.size());
    complete = ReadWhole(file.get(), out + head.size(), size);
    return capacity;
  }));
  if (!complete) {
    return Bytes(
        Error(request, 503, "the file changed while it was read, retry", "Retry-After: 1\r\n"));
  }
  return response;
}

bool CheckWebRoot(const std::string& root, std::string* error) {
  Fd dir(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) {
    *error = root + ": " + std::strerror(errno);
    return false;
  }
  Fd self(OpenBeneath(dir.get(), "."));
  if (self.get() < 0 && (errno == ENOSYS || errno == EPERM)) {
    *error =
        "openat2 is not available (Linux 5.6+, and allowed by the seccomp profile): it is "
        "what keeps file reads inside --web-root; pass --web-root '' to serve no files";
    return false;
  }
  return true;
}

StaticFiles::StaticFiles(Shard& shard) : shard_(shard) {}

void StaticFiles::OnRequest(HttpExchange& exchange) {
  const Config& config = shard_.config();
  const http::Request& request = exchange.request();
  exchange.SetRoute("static");
  if (config.web_root.empty() && config.sdk_root.empty()) {
    return exchange.RespondError(404, "no such route");
  }
  if (request.method != http::Method::kGet && request.method != http::Method::kHead) {
    return exchange.RespondError(405, "method not allowed", "Allow: GET, HEAD\r\n");
  }
  http::StaticPath path = http::CheckStaticPath(request.path);
  switch (path.check) {
    case http::PathCheck::kOk:
      break;
    case http::PathCheck::kHidden:
      return exchange.RespondError(404, "not found");
    case http::PathCheck::kMalformed:
    case http::PathCheck::kForbidden:
      return exchange.RespondError(400, "bad path");
  }
  // "sdk" and "sdk/..." are the SDK's mount; "sdk" alone (no trailing '/') is its root
  // directory, which has no index.html: 404 like any such directory.
  std::string_view root = config.web_root;
  std::string_view mount;
  if (!config.sdk_root.empty() && InSdkMount(path.relative)) {
    exchange.SetRoute("/sdk/");
    root = config.sdk_root;
    mount = "/sdk";
    path.relative.erase(0, std::min(path.relative.size(), kSdkMount.size() + 1));
  }
  if (root.empty()) return exchange.RespondError(404, "no such route");
  // An HTTP connection has no slow-consumer cut-off of its own: a client that pipelines
  // requests for files without reading the answers is refused new ones instead.
  if (exchange.connection().congested()) {
    return exchange.RespondError(503, "earlier answers not read yet", "Retry-After: 1\r\n");
  }
  if (reads_in_flight_ >= config.max_static_reads) {
    return exchange.RespondError(503, "too many file reads in flight, retry later",
                                 "Retry-After: 1\r\n");
  }
  std::string_view if_none_match = request.Find("If-None-Match");
  StaticFileRequest job{.root = std::string(root),
                        .mount = std::string(mount),
                        .any_origin = !mount.empty(),
                        .relative = std::move(path.relative),
                        .query = std::string(request.query),
                        .trailing_slash = path.trailing_slash,
                        .if_none_match = std::string(if_none_match),
                        .head = request.method == http::Method::kHead,
                        .keep_alive = request.keep_alive,
                        .max_bytes = config.max_static_bytes,
                        .max_age_s = config.static_max_age_s};
  ++reads_in_flight_;
  const DeferredHttp deferred = exchange.Defer();
  const bool queued = shard_.TryRunBlocking(
      WorkClass::kFileRead, [job = std::move(job)] { return ServeStaticFile(job); },
      [this, deferred](Shard& shard, FramePtr response) {
        --reads_in_flight_;
        const int status = StatusOf(*response);
        shard.AnswerDeferredBytes(deferred, status, response.release());
      });
  if (!queued) {
    --reads_in_flight_;
    shard_.AnswerDeferred(deferred, 503, "application/json",
                          R"({"error":"too many file reads queued (--workers-file-queue), )"
                          R"(retry later"})");
  }
}

}  // namespace ringcast
