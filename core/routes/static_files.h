// StaticFiles: the files under --web-root, served at / (the web app, web/), and those under
// --sdk-root at /sdk/ (the JavaScript SDK's modules, clients/js/src: a page imports the SDK
// from there, with no build step and no copy in web/). The last route: the chat API (/api/...,
// /ws), /health, /ready, /echo and /raw/ are matched before it; /sdk/ is matched before the
// web root, whose own sdk/ folder, if any, it hides while --sdk-root is set. Both mounts follow
// the rules below.
//
// Owner: its shard's thread (one per shard, in the DefaultApp). The shard only checks the path
// (proto/url_path.h), counts reads in flight and queues the answer; every file system call
// (open, stat, read) runs on the worker pool (Shard::RunBlocking), which builds the whole
// response in one SharedFrame: the file is read straight into the bytes that are sent.
//
// Rules (proto/PROTOCOL.md, "Static files"):
//   - GET and HEAD only (405 otherwise); "/" and a directory's "/" are its index.html; a
//     directory without a trailing '/' is redirected (301) to it when it has an index.html; no
//     directory listings; 404 for anything else that is not a regular file.
//   - Nothing outside the root: the path is checked after percent-decoding (no "..", ".",
//     encoded '/', backslash, NUL or control byte: 400; hidden ".name" segments: 404), and the
//     file is opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) below the root, so a
//     symbolic link that leads out of it fails in the kernel (404), race-free.
//   - The root is opened by path for every request: replacing it (a rename, a symbolic link
//     switched at a deploy) takes effect at once, and files are read afresh (the page cache
//     makes that cheap; nothing is cached here).
//   - ETag from size and modification time; If-None-Match → 304. Cache-Control: HTML "no-cache"
//     (always revalidated: a deploy is seen at the next load); other files "public,
//     max-age=--static-max-age". X-Content-Type-Options: nosniff on every file.
//   - Bounds: a file over --max-static-bytes is answered 500 (it is the operator's to fix; not
//     streamed); at most --max-static-reads reads per shard are queued or running on the
//     workers, and a connection that has not read half its --max-outbound-bytes of earlier
//     answers gets no new file (both 503 with Retry-After), so memory held for files stays
//     within (connections × (--max-outbound-bytes + --max-static-bytes)).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/net/http_exchange.h"
#include "core/net/shared_frame.h"

namespace ringcast {

class Shard;

// One file request as the worker needs it (copied off the shard: nothing points into buffers).
struct StaticFileRequest {
  std::string root;         // --web-root or --sdk-root.
  std::string mount;        // Where the root is in the URL space: "" (/) or "/sdk" (redirects).
  bool any_origin = false;  // Access-Control-Allow-Origin: * (the SDK, imported cross-origin).
  std::string relative;     // http::CheckStaticPath's: below the root, "" for the root itself.
  std::string query;        // Kept on a redirect.
  bool trailing_slash = false;
  std::string if_none_match;
  bool head = false;
  bool keep_alive = true;
  uint64_t max_bytes = 0;
  uint32_t max_age_s = 0;
};

struct ReleaseFrame {
  void operator()(SharedFrame* frame) const { frame->Release(); }
};
using FramePtr = std::unique_ptr<SharedFrame, ReleaseFrame>;

// The whole HTTP response to `request` (any thread; blocks on the file system).
FramePtr ServeStaticFile(const StaticFileRequest& request);

// Content-Type by extension (ASCII case-insensitive); application/octet-stream when unknown.
std::string_view StaticContentType(std::string_view file_name);

// Whether an If-None-Match value names `etag` ("*", or a list; weak comparison, RFC 9110
// §13.1.2).
bool EtagMatches(std::string_view if_none_match, std::string_view etag);

// At start: whether `root` can be served (a directory, and openat2 available: Linux 5.6, and
// not filtered by a seccomp profile). False with the reason in *error.
bool CheckWebRoot(const std::string& root, std::string* error);

class StaticFiles {
 public:
  explicit StaticFiles(Shard& shard);

  // A request that no other route took: the file, or 404 when no root serves its path.
  void OnRequest(HttpExchange& exchange);

 private:
  Shard& shard_;
  uint32_t reads_in_flight_ = 0;  // Queued or running on the workers; --max-static-reads.
};

}  // namespace ringcast
