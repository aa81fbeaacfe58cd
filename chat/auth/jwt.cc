// HS256 JSON Web Tokens; the accepted form and the order of checks are in jwt.h.
#include "chat/auth/jwt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>

#include "chat/auth/encoding.h"

namespace ringcast::auth {
namespace {

// base64url({"alg":"HS256","typ":"JWT"}): the only header we write or accept.
constexpr std::string_view kHeader = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
constexpr size_t kSignatureBytes = 32;  // SHA-256 output.
constexpr size_t kJtiRandomBytes = 16;

using Mac = std::array<uint8_t, kSignatureBytes>;

bool Hs256(const JwtSecret& secret, std::string_view signing_input, Mac* out) {
  unsigned int len = 0;
  const std::span<const uint8_t> key = secret.bytes();
  const unsigned char* r = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                                reinterpret_cast<const unsigned char*>(signing_input.data()),
                                signing_input.size(), out->data(), &len);
  return r != nullptr && len == out->size();
}

// JSON string body for a claim value; our values are ASCII ids, but a caller may pass anything.
void AppendJsonString(std::string* out, std::string_view s) {
  constexpr std::string_view kHex = "0123456789abcdef";
  *out += '"';
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += c;
    } else if (u < 0x20) {  // RFC 8259 §7: control characters must be escaped.
      *out += "\\u00";
      *out += kHex[u >> 4];
      *out += kHex[u & 15];
    } else {
      *out += c;
    }
  }
  *out += '"';
}

// The user id as we write it: decimal, no sign, no leading zero, positive, fits int64.
std::optional<int64_t> ParseUserId(std::string_view s) {
  if (s.empty() || s[0] == '0') return std::nullopt;
  int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

JwtVerifyResult Fail(JwtError error, std::string_view reason) {
  JwtVerifyResult r;
  r.error = error;
  r.reason = reason;
  return r;
}

// For a header that is not exactly ours: tell an attempt at another algorithm (which callers may
// want to log as an attack) from plain garbage.
JwtVerifyResult ClassifyHeader(std::string_view encoded) {
  const std::optional<std::string> json = Base64UrlDecode(encoded);
  if (!json) return Fail(JwtError::kMalformed, "header is not base64url");
  simdjson::dom::parser parser;
  simdjson::dom::object header;
  if (parser.parse(*json).get_object().get(header) != simdjson::SUCCESS) {
    return Fail(JwtError::kMalformed, "header is not a JSON object");
  }
  std::string_view alg;
  if (header["alg"].get_string().get(alg) != simdjson::SUCCESS) {
    return Fail(JwtError::kMalformed, "header has no string alg");
  }
  if (alg == "none") return Fail(JwtError::kWrongAlgorithm, "alg none is not accepted");
  if (alg != "HS256") return Fail(JwtError::kWrongAlgorithm, "alg is not HS256");
  return Fail(JwtError::kMalformed, "header is not {\"alg\":\"HS256\",\"typ\":\"JWT\"}");
}

// Parses the authenticated claims into `claims`; an empty reason on success.
std::string_view ParseClaims(std::string_view json, JwtClaims* claims) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(json.data(), json.size()).get_object().get(object) != simdjson::SUCCESS) {
    return "claims are not a JSON object";
  }
  bool have_sub = false, have_iat = false, have_exp = false, have_jti = false;
  for (const simdjson::dom::key_value_pair field : object) {
    std::string_view text;
    if (field.key == "sub") {
      if (have_sub) return "duplicate sub";
      have_sub = true;
      if (field.value.get_string().get(text) != simdjson::SUCCESS) return "sub is not a string";
      const std::optional<int64_t> id = ParseUserId(text);
      if (!id) return "sub is not a positive decimal user id";
      claims->user_id = *id;
    } else if (field.key == "jti") {
      if (have_jti) return "duplicate jti";
      have_jti = true;
      if (field.value.get_string().get(text) != simdjson::SUCCESS) return "jti is not a string";
      if (text.empty() || text.size() > kMaxJtiBytes) return "jti is empty or too long";
      claims->jti = std::string(text);
    } else if (field.key == "iat") {
      if (have_iat) return "duplicate iat";
      have_iat = true;
      // get_int64 refuses doubles (1.5, 1e9) and integers beyond int64.
      if (field.value.get_int64().get(claims->iat) != simdjson::SUCCESS) {
        return "iat is not an integer";
      }
    } else if (field.key == "exp") {
      if (have_exp) return "duplicate exp";
      have_exp = true;
      if (field.value.get_int64().get(claims->exp) != simdjson::SUCCESS) {
        return "exp is not an integer";
      }
    }
  }
  if (!have_sub) return "missing sub";
  if (!have_jti) return "missing jti";
  if (!have_iat) return "missing iat";
  if (!have_exp) return "missing exp";
  return {};
}

bool ValidClaims(const JwtClaims& claims) {
  return claims.user_id > 0 && !claims.jti.empty() && claims.jti.size() <= kMaxJtiBytes;
}

}  // namespace

std::optional<JwtSecret> JwtSecret::Generate() {
  std::vector<uint8_t> key(kJwtSecretBytes);
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) return std::nullopt;
  return JwtSecret(std::move(key));
}

std::optional<JwtSecret> JwtSecret::FromBytes(std::span<const uint8_t> bytes) {
  if (bytes.size() < kMinJwtSecretBytes) return std::nullopt;
  return JwtSecret(std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

std::optional<JwtSecret> JwtSecret::FromHex(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return std::nullopt;
  text = text.substr(first, text.find_last_not_of(kSpace) - first + 1);
  std::optional<std::string> bytes = HexDecode(text);
  if (!bytes) return std::nullopt;
  std::optional<JwtSecret> secret = FromBytes(AsBytes(*bytes));
  OPENSSL_cleanse(bytes->data(), bytes->size());
  return secret;
}

JwtSecret::~JwtSecret() {
  if (!key_.empty()) OPENSSL_cleanse(key_.data(), key_.size());
}

std::string JwtSecret::ToHex() const { return HexEncode(key_); }

std::string SignJwt(const JwtClaims& claims, const JwtSecret& secret) {
  if (!ValidClaims(claims)) return {};
  std::string payload = "{\"sub\":\"" + std::to_string(claims.user_id) +
                        "\",\"iat\":" + std::to_string(claims.iat) +
                        ",\"exp\":" + std::to_string(claims.exp) + ",\"jti\":";
  AppendJsonString(&payload, claims.jti);
  payload += '}';
  std::string token = std::string(kHeader) + "." + Base64UrlEncode(payload);
  Mac mac;
  if (!Hs256(secret, token, &mac)) return {};
  token += '.';
  token += Base64UrlEncode(mac);
  return token;
}

std::optional<IssuedJwt> IssueJwt(int64_t user_id, int64_t now, int64_t ttl_seconds,
                                  const JwtSecret& secret, std::string_view jti_prefix) {
  int64_t exp = 0;
  if (ttl_seconds <= 0 || __builtin_add_overflow(now, ttl_seconds, &exp)) return std::nullopt;
  std::array<uint8_t, kJtiRandomBytes> jti;
  if (RAND_bytes(jti.data(), static_cast<int>(jti.size())) != 1) return std::nullopt;
  IssuedJwt issued;
  std::string id = jti_prefix.empty() ? std::string() : std::string(jti_prefix) + '.';
  id += Base64UrlEncode(jti);
  issued.claims = {.user_id = user_id, .jti = std::move(id), .iat = now, .exp = exp};
  issued.token = SignJwt(issued.claims, secret);
  if (issued.token.empty()) return std::nullopt;
  return issued;
}

JwtVerifyResult VerifyJwt(std::string_view token, const JwtSecret& secret, int64_t now,
                          int64_t leeway_seconds) {
  if (token.size() > kMaxTokenBytes) return Fail(JwtError::kMalformed, "token is too long");
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Fail(JwtError::kMalformed, "token does not have three parts");
  }
  const std::string_view header = token.substr(0, dot1);
  const std::string_view payload = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature = token.substr(dot2 + 1);
  if (header != kHeader) return ClassifyHeader(header);

  // RFC 7515 §5.2: the MAC covers the ASCII of "header.payload" exactly as received.
  const std::optional<std::string> mac = Base64UrlDecode(signature);
  if (!mac) return Fail(JwtError::kMalformed, "signature is not base64url");
  Mac expected;
  if (!Hs256(secret, token.substr(0, dot2), &expected)) {
    return Fail(JwtError::kBadSignature, "HMAC failed");
  }
  // Constant time, so an attacker cannot find a valid MAC byte by byte from response timing.
  if (mac->size() != expected.size() ||
      CRYPTO_memcmp(mac->data(), expected.data(), expected.size()) != 0) {
    return Fail(JwtError::kBadSignature, "signature does not match");
  }

  const std::optional<std::string> json = Base64UrlDecode(payload);
  if (!json) return Fail(JwtError::kMalformed, "claims are not base64url");
  JwtVerifyResult result;
  if (const std::string_view reason = ParseClaims(*json, &result.claims); !reason.empty()) {
    return Fail(JwtError::kMalformed, reason);
  }
  // RFC 7519 §4.1.4: valid only while now is before exp (plus leeway for clock skew).
  int64_t deadline = 0;
  if (__builtin_add_overflow(result.claims.exp, std::max<int64_t>(leeway_seconds, 0), &deadline)) {
    deadline = std::numeric_limits<int64_t>::max();
  }
  if (now >= deadline) return Fail(JwtError::kExpired, "token has expired");
  return result;
}

}  // namespace ringcast::auth
