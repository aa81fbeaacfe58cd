// AWS Signature Version 4 for S3 (files/README.md, "Signing"): the Authorization header of a
// request, and presigned (query-string) URLs a browser or a CDN fetches without credentials.
//
// Written here rather than left to libcurl's CURLOPT_AWS_SIGV4 because presigned URLs need a
// signer anyway (libcurl signs only headers), and because what Debian 12's libcurl 7.88 signs
// differs from later versions (it neither sends x-amz-content-sha256 nor sorts the query, and
// which headers it signs changed in 8.x): one signer, checked against AWS's published examples
// (tests/unit/files/sigv4_test.cc), signs the same bytes whatever libcurl is installed.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringcast::files {

struct SigV4Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // Temporary credentials (a role's): sent as X-Amz-Security-Token.
};

// What is signed of one request.
struct SigV4Request {
  std::string_view method;  // "GET", "PUT", ...
  std::string_view host;    // The Host header's value (with ":port" when not the default).
  std::string path;         // Unencoded ("/bucket/a b.txt"); each segment is encoded once.
  // Unencoded names and values, in any order (an empty value for "?uploads").
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign besides host, x-amz-date, x-amz-content-sha256 and the session token:
  // lowercase names, values as sent.
  std::vector<std::pair<std::string, std::string>> headers;
  // The body's lowercase hex SHA-256, or "UNSIGNED-PAYLOAD" (a streamed body; TLS protects it).
  std::string payload_sha256 = "UNSIGNED-PAYLOAD";
};

// The request's signed headers, each "Name: value", to send as they are: x-amz-date,
// x-amz-content-sha256, x-amz-security-token (when there is one), authorization.
// `amz_date` is the request time, "YYYYMMDDTHHMMSSZ" (AmzDate).
std::vector<std::string> SignHeaders(const SigV4Request& request,
                                     const SigV4Credentials& credentials, std::string_view region,
                                     std::string_view amz_date);

// The query string (without "?") that makes `request` a presigned URL valid for `expires_s`
// seconds from `amz_date` (at most 7 days: S3's bound). Only the host header is signed and the
// payload is UNSIGNED-PAYLOAD, as S3 requires of presigned URLs.
std::string PresignQuery(const SigV4Request& request, const SigV4Credentials& credentials,
                         std::string_view region, std::string_view amz_date, int64_t expires_s);

// "YYYYMMDDTHHMMSSZ" of a time in seconds since the epoch (UTC).
std::string AmzDate(int64_t unix_seconds);
// RFC 3986 percent-encoding as SigV4 wants it: unreserved bytes kept, every other byte %XX
// (uppercase); '/' kept when `keep_slash` (paths).
std::string UriEncode(std::string_view text, bool keep_slash);
// Lowercase hex SHA-256.
std::string Sha256Hex(std::span<const uint8_t> bytes);
std::string Sha256Hex(std::string_view text);

}  // namespace ringcast::files
