// Session tokens: JSON Web Tokens (RFC 7519) signed with HS256, HMAC-SHA-256 (RFC 7515 and
// RFC 7518 §3.2). We only ever verify tokens we issued, so verification accepts exactly the
// form we write and nothing else:
//
//   base64url({"alg":"HS256","typ":"JWT"}) . base64url(claims) . base64url(HMAC-SHA-256)
//   claims = {"sub":"<user id>","iat":<s>,"exp":<s>,"jti":"<id>"}
//
// - `sub` is the user id as a decimal string, because RFC 7519 §4.1.2 makes `sub` a string
//   (and common libraries such as PyJWT reject a number there); VerifyJwt parses it back to a
//   positive int64. `iat` and `exp` are integer NumericDates (seconds since the epoch, §2).
//   `jti` (§4.1.7) is 128 random bits in base64url (22 characters): the key of the revocation
//   list that logout writes. Claims we do not issue are ignored (§4); a duplicate claim name is
//   rejected (§4 allows either).
// - The header must be byte-for-byte the one above. Any other `alg`, "none" included, is
//   kWrongAlgorithm: the algorithm is fixed by us, never chosen by the token (the "alg: none"
//   and algorithm-confusion attacks, RFC 8725 §2.1 and §3.1).
// - The signature is checked, in constant time (CRYPTO_memcmp), before the claims are parsed,
//   so unauthenticated bytes never reach the JSON parser.
// - Tokens longer than kMaxTokenBytes are rejected before any work.
//
// Threads: pure functions; JwtSecret is an immutable value that any thread may read. Issuing or
// verifying a token costs about 5 us (-O2, this machine; verification builds a simdjson parser
// per call), so both may run on a shard.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast::auth {

inline constexpr size_t kMaxTokenBytes = 4096;
inline constexpr size_t kJwtSecretBytes = 32;     // What GenerateSecret makes.
inline constexpr size_t kMinJwtSecretBytes = 32;  // RFC 7518 §3.2: key >= hash output size.
inline constexpr size_t kMaxJtiBytes = 128;

// The HMAC key. Only constructible with at least kMinJwtSecretBytes bytes, so a short or empty
// key cannot reach Sign/Verify. Wiped from memory when destroyed.
class JwtSecret {
 public:
  // kJwtSecretBytes from RAND_bytes; nullopt if the RNG fails.
  static std::optional<JwtSecret> Generate();
  // Any bytes (e.g. from --jwt-secret); nullopt when shorter than kMinJwtSecretBytes.
  static std::optional<JwtSecret> FromBytes(std::span<const uint8_t> bytes);
  // The text ToHex writes, as persisted in the data dir. Leading and trailing ASCII whitespace
  // (a file's final newline) is ignored; nullopt when not hex or too short.
  static std::optional<JwtSecret> FromHex(std::string_view text);

  JwtSecret(const JwtSecret&) = default;
  JwtSecret(JwtSecret&&) = default;
  // Copy-and-swap, so the key being replaced is wiped by `other`'s destructor.
  JwtSecret& operator=(JwtSecret other) noexcept {
    key_.swap(other.key_);
    return *this;
  }
  ~JwtSecret();

  std::string ToHex() const;  // Lowercase, no newline.
  std::span<const uint8_t> bytes() const { return key_; }

 private:
  explicit JwtSecret(std::vector<uint8_t> key) : key_(std::move(key)) {}

  std::vector<uint8_t> key_;
};

struct JwtClaims {
  int64_t user_id = 0;  // `sub`; positive.
  std::string jti;      // 1 to kMaxJtiBytes bytes.
  int64_t iat = 0;      // Issued at, seconds since the epoch.
  int64_t exp = 0;      // Expires at; the token is valid while now < exp.
};

// The compact serialisation of `claims`. Deterministic. Empty only if the claims break the
// rules on JwtClaims (non-positive user_id, empty or oversized jti) or HMAC fails.
std::string SignJwt(const JwtClaims& claims, const JwtSecret& secret);

struct IssuedJwt {
  std::string token;
  JwtClaims claims;
};

// A new token for `user_id` valid for `ttl_seconds` from `now` (seconds since the epoch), with
// a fresh random jti, "<jti_prefix>.<random>" when a prefix is given (the refresh-token family
// of a login, chat/ops/login_routes.cc). nullopt if the RNG or HMAC fails or the arguments are
// out of range.
std::optional<IssuedJwt> IssueJwt(int64_t user_id, int64_t now, int64_t ttl_seconds,
                                  const JwtSecret& secret, std::string_view jti_prefix = {});

enum class JwtError : uint8_t {
  kOk = 0,
  kMalformed,       // Not three base64url parts, oversize, bad JSON, missing or mistyped claim.
  kBadSignature,    // Well formed, but not signed with this secret (or altered).
  kExpired,         // Signature good, but now >= exp + leeway.
  kWrongAlgorithm,  // Header names an alg other than HS256 ("none" included).
};

struct JwtVerifyResult {
  JwtError error = JwtError::kOk;
  std::string_view reason;  // Static text for logs; empty on success. Do not send to clients.
  JwtClaims claims;         // Filled only when error == kOk.

  bool ok() const { return error == JwtError::kOk; }
};

// Checks `token` against `secret` at time `now` (seconds since the epoch), in this order: size,
// shape, header/alg, signature, claims, expiry. `leeway_seconds` (>= 0, a few seconds at most)
// tolerates clock skew between the issuing and the verifying host. Revocation is the caller's:
// look up claims.jti after this succeeds.
JwtVerifyResult VerifyJwt(std::string_view token, const JwtSecret& secret, int64_t now,
                          int64_t leeway_seconds = 0);

}  // namespace ringcast::auth
