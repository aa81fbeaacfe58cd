// S3Client: the S3 API calls the file store needs (files/README.md), each one blocking HTTP
// exchange through libcurl, signed with SigV4 (files/sigv4.h). Works against AWS S3 and the
// S3-compatible stores (MinIO, Ceph RGW, Cloudflare R2, Aliyun OSS): path-style or virtual-host
// addressing, any endpoint and region.
//
// Threads: any thread but a shard's (every call blocks for a network round trip). Calls may run
// on several threads at once; each thread keeps its own curl handle, so its connections to the
// store are reused from one call to the next.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "files/sigv4.h"

namespace ringcast::files {

// Where the objects are and how to reach them (--files-url s3://BUCKET/PREFIX and the --s3-*
// flags: files/README.md).
struct S3Location {
  std::string bucket;
  std::string prefix;  // "" or ending in '/': every key starts with it.
  // scheme://host[:port] (no path, no default port); empty: AWS's for `region`.
  std::string endpoint;
  std::string region = "us-east-1";
  bool virtual_host = false;  // bucket.host/key rather than host/bucket/key.
  SigV4Credentials credentials;
  std::chrono::milliseconds timeout{60'000};  // One whole exchange.
};

// Parses "s3://BUCKET[/PREFIX]" into `location` (bucket and prefix); false with `error`.
bool ParseS3Url(std::string_view url, S3Location* location, std::string* error);
// "http://host:80/" → "http://host": the endpoint as requests are signed (no path, no
// default port, lowercase scheme and host); "" with `error` when it is not http(s)://host[:port].
std::string NormalizeEndpoint(std::string_view endpoint, std::string* error);

// The outcome of one call: the HTTP status (0: no answer: connection refused, timeout, TLS) and,
// for an S3 error, its Code and Message.
struct S3Status {
  int http = 0;
  std::string code;     // "NoSuchKey", "SignatureDoesNotMatch", ...; or curl's error.
  std::string message;  // S3's Message, or curl's text.

  bool ok() const { return http >= 200 && http < 300; }
  bool not_found() const { return http == 404; }
  // Worth trying again: no answer, a server error, or being told to slow down.
  bool transient() const { return http == 0 || http >= 500 || http == 429 || code == "SlowDown"; }
  std::string ToString() const;
};

// A request body: bytes in memory, or `size` bytes of file `fd` from `offset` (read with pread,
// so several parts of one file may be sent at once).
struct S3Body {
  std::span<const uint8_t> bytes;
  int fd = -1;
  uint64_t offset = 0;
  uint64_t size = 0;

  uint64_t length() const { return fd >= 0 ? size : bytes.size(); }
};

struct S3Object {
  std::string key;  // Without the location's prefix.
  uint64_t size = 0;
  std::string etag;  // Without its quotes.
  std::string content_type;
};

struct S3Upload {   // A multipart upload not completed or aborted.
  std::string key;  // Without the prefix.
  std::string upload_id;
};

class S3Client {
 public:
  explicit S3Client(S3Location location);

  const S3Location& location() const { return location_; }

  // Keys are given without the location's prefix, unencoded.
  S3Status Put(std::string_view key, const S3Body& body, std::string_view content_type,
               std::string* etag = nullptr);
  S3Status Head(std::string_view key, S3Object* object);
  // `length` bytes from `first` (length 0: to the end); `sink` takes them as they come, and
  // returns false to stop (the status is then the answer's, with code "aborted").
  S3Status Get(std::string_view key, uint64_t first, uint64_t length,
               const std::function<bool(std::span<const uint8_t>)>& sink);
  // A copy inside the bucket (at most 5 GiB, S3's bound for one CopyObject).
  S3Status Copy(std::string_view from_key, std::string_view to_key);
  S3Status Delete(std::string_view key);
  // DeleteObjects: up to 1000 keys in one request; keys S3 could not delete go to `failed`
  // (a key that does not exist counts as deleted, as S3 says).
  S3Status DeleteMany(std::span<const std::string> keys, std::vector<std::string>* failed);
  // One page of ListObjectsV2 under prefix + `under`; `token` in: the page to read ("" first),
  // out: the next one ("" when this was the last).
  S3Status List(std::string_view under, std::string* token, std::vector<S3Object>* page);

  S3Status CreateMultipart(std::string_view key, std::string_view content_type,
                           std::string* upload_id);
  // Part numbers from 1; each part but the last at least 5 MiB (S3's bound).
  S3Status UploadPart(std::string_view key, std::string_view upload_id, int part,
                      const S3Body& body, std::string* etag);
  S3Status CompleteMultipart(std::string_view key, std::string_view upload_id,
                             std::span<const std::string> etags);
  S3Status AbortMultipart(std::string_view key, std::string_view upload_id);
  // The multipart uploads under prefix + `under` not completed or aborted (up to 1000).
  S3Status ListMultipart(std::string_view under, std::vector<S3Upload>* uploads);

  // A URL anyone may GET the object by until `expires_s` seconds from `now_s` (seconds since
  // the epoch): S3's own presigning. `disposition` and `type`, when not empty, become the
  // answer's Content-Disposition and Content-Type (response-content-* parameters).
  std::string PresignGet(std::string_view key, int64_t now_s, int64_t expires_s,
                         std::string_view disposition = {}, std::string_view type = {}) const;

 private:
  struct Exchange;
  S3Status Perform(Exchange& exchange);
  // The request's URL path (unencoded) and Host for an object key (prefix added; "" for the
  // bucket itself).
  std::string PathOf(std::string_view key) const;
  std::string HostOf() const;

  S3Location location_;
  std::string scheme_;  // "http" or "https".
  std::string host_;    // The endpoint's host[:port].
};

}  // namespace ringcast::files
