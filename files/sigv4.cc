#include "files/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>

#include "chat/auth/encoding.h"

namespace ringcast::files {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

std::string Hmac(std::string_view key, std::string_view data) {
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const uint8_t*>(data.data()), data.size(), mac, &size);
  return std::string(reinterpret_cast<const char*>(mac), size);
}

std::string Scope(std::string_view amz_date, std::string_view region) {
  std::string scope(amz_date.substr(0, 8));
  scope.append("/").append(region).append("/s3/aws4_request");
  return scope;
}

std::string Signature(const SigV4Credentials& credentials, std::string_view amz_date,
                      std::string_view region, std::string_view canonical_request) {
  std::string to_sign(kAlgorithm);
  to_sign.append("\n").append(amz_date).append("\n").append(Scope(amz_date, region));
  to_sign.append("\n").append(Sha256Hex(canonical_request));
  std::string key = Hmac("AWS4" + credentials.secret_key, amz_date.substr(0, 8));
  key = Hmac(key, region);
  key = Hmac(key, "s3");
  key = Hmac(key, "aws4_request");
  const std::string mac = Hmac(key, to_sign);
  return auth::HexEncode(auth::AsBytes(mac));
}

// The canonical request, and the signed header names ("host;x-amz-date") through `signed_names`.
// `headers` are lowercase names with their values; host is added here.
std::string CanonicalRequest(const SigV4Request& request,
                             std::vector<std::pair<std::string, std::string>> query,
                             std::vector<std::pair<std::string, std::string>> headers,
                             std::string* signed_names) {
  std::string canonical(request.method);
  canonical.append("\n").append(UriEncode(request.path, true)).append("\n");
  for (auto& [name, value] : query) {
    name = UriEncode(name, false);
    value = UriEncode(value, false);
  }
  std::sort(query.begin(), query.end());
  for (size_t i = 0; i < query.size(); ++i) {
    if (i > 0) canonical.append("&");
    canonical.append(query[i].first).append("=").append(query[i].second);
  }
  canonical.append("\n");
  headers.emplace_back("host", std::string(request.host));
  for (auto& [name, value] : headers) {  // Values trimmed, inner runs of spaces folded.
    std::string folded;
    for (char c : value) {
      if (c == ' ' && (folded.empty() || folded.back() == ' ')) continue;
      folded.push_back(c);
    }
    while (!folded.empty() && folded.back() == ' ') folded.pop_back();
    value = std::move(folded);
  }
  std::sort(headers.begin(), headers.end());
  signed_names->clear();
  for (const auto& [name, value] : headers) {
    canonical.append(name).append(":").append(value).append("\n");
    if (!signed_names->empty()) signed_names->append(";");
    signed_names->append(name);
  }
  canonical.append("\n").append(*signed_names).append("\n").append(request.payload_sha256);
  return canonical;
}

}  // namespace

std::string UriEncode(std::string_view text, bool keep_slash) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<uint8_t>(c);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || (c == '/' && keep_slash)) {
      out.push_back(c);
    } else {
      static constexpr char kUpper[] = "0123456789ABCDEF";
      out.append(1, '%').append(1, kUpper[byte >> 4]).append(1, kUpper[byte & 15]);
    }
  }
  return out;
}

std::string Sha256Hex(std::span<const uint8_t> bytes) {
  uint8_t digest[32];
  unsigned size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr);
  return auth::HexEncode({digest, size});
}

std::string Sha256Hex(std::string_view text) {
  return Sha256Hex({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

std::string AmzDate(int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm utc;
  gmtime_r(&t, &utc);
  char text[20];
  strftime(text, sizeof(text), "%Y%m%dT%H%M%SZ", &utc);
  return text;
}

std::vector<std::string> SignHeaders(const SigV4Request& request,
                                     const SigV4Credentials& credentials, std::string_view region,
                                     std::string_view amz_date) {
  auto headers = request.headers;
  headers.emplace_back("x-amz-date", std::string(amz_date));
  headers.emplace_back("x-amz-content-sha256", request.payload_sha256);
  if (!credentials.session_token.empty()) {
    headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  std::string signed_names;
  const std::string canonical = CanonicalRequest(request, request.query, headers, &signed_names);
  std::string authorization = "Authorization: ";
  authorization.append(kAlgorithm).append(" Credential=").append(credentials.access_key);
  authorization.append("/").append(Scope(amz_date, region));
  authorization.append(", SignedHeaders=").append(signed_names).append(", Signature=");
  authorization.append(Signature(credentials, amz_date, region, canonical));
  std::vector<std::string> out;
  out.push_back("x-amz-date: " + std::string(amz_date));
  out.push_back("x-amz-content-sha256: " + request.payload_sha256);
  if (!credentials.session_token.empty()) {
    out.push_back("x-amz-security-token: " + credentials.session_token);
  }
  out.push_back(std::move(authorization));
  return out;
}

std::string PresignQuery(const SigV4Request& request, const SigV4Credentials& credentials,
                         std::string_view region, std::string_view amz_date, int64_t expires_s) {
  auto query = request.query;
  query.emplace_back("X-Amz-Algorithm", std::string(kAlgorithm));
  query.emplace_back("X-Amz-Credential", credentials.access_key + "/" + Scope(amz_date, region));
  query.emplace_back("X-Amz-Date", std::string(amz_date));
  query.emplace_back("X-Amz-Expires", std::to_string(std::clamp<int64_t>(expires_s, 1, 604800)));
  query.emplace_back("X-Amz-SignedHeaders", "host");
  if (!credentials.session_token.empty()) {
    query.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  SigV4Request presigned = request;
  presigned.payload_sha256 = "UNSIGNED-PAYLOAD";
  std::string signed_names;
  const std::string canonical = CanonicalRequest(presigned, query, {}, &signed_names);
  const std::string signature = Signature(credentials, amz_date, region, canonical);
  std::string out;
  for (auto& [name, value] : query) {
    if (!out.empty()) out.append("&");
    out.append(UriEncode(name, false)).append("=").append(UriEncode(value, false));
  }
  out.append("&X-Amz-Signature=").append(signature);
  return out;
}

}  // namespace ringcast::files
