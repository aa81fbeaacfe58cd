// Password hashing for accounts: scrypt (RFC 7914) from OpenSSL, salted, self-describing.
//
// Why scrypt and these defaults. A stolen users table is attacked offline on GPUs/ASICs, where
// PBKDF2's cost is pure compute and cheap to parallelise; scrypt also needs N*r*128 bytes of
// memory per guess, which is what makes such hardware expensive. The defaults are N = 2^14,
// r = 8, p = 1: Percival's interactive-login setting from the scrypt paper, 16 MiB per hash and
// 50-60 ms on this 2-core Xeon (OpenSSL 3.0, -O2; 2^15 took 120 ms, above our 50-100 ms
// budget, and PBKDF2-HMAC-SHA256 needed 210,000 iterations for 94 ms, a third of what OWASP
// asks of it). Peak memory is 16 MiB times the number of hashes in flight, so the auth worker
// pool size bounds it. Raise `log2_n` when hardware allows; old hashes keep verifying with
// their own stored parameters and NeedsRehash() tells the login path to upgrade them.
//
// Encoded form, stored as text:   scrypt$ln=14,r=8,p=1$<salt>$<hash>
// where <salt> (16 random bytes) and <hash> (32 bytes) are unpadded base64url. The first field
// names the scheme so another KDF can be added later beside this one.
//
// Threads: pure functions with no shared state; every call that runs the KDF is slow on purpose
// (tens of milliseconds) and must run on a worker thread, never on a shard.
// Passwords are compared as bytes: no Unicode normalisation happens here.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ringcast::auth {

inline constexpr size_t kMaxPasswordBytes = 1024;  // Bounds KDF input; longer is a client bug.
inline constexpr size_t kPasswordSaltBytes = 16;
inline constexpr size_t kPasswordHashBytes = 32;

struct ScryptParams {
  uint32_t log2_n = 14;  // N = 2^log2_n: memory and time, linearly.
  uint32_t r = 8;        // Block size: 128 * r bytes per block.
  uint32_t p = 1;        // Parallelism; OpenSSL runs the lanes sequentially, so it is time.

  // Unit tests only: 64 KiB and well under a millisecond. Never for stored passwords.
  static constexpr ScryptParams ForTests() { return {.log2_n = 6, .r = 8, .p = 1}; }

  bool operator==(const ScryptParams&) const = default;
};

// Accepted for hashing and for decoding stored hashes: 1 <= log2_n <= 20, 1 <= r <= 32,
// 1 <= p <= 16 and N * r * 128 <= 256 MiB. The bound keeps a corrupt stored row from making a
// worker allocate gigabytes.
bool IsValidScryptParams(const ScryptParams& params);

enum class PasswordError : uint8_t {
  kOk = 0,
  kEmptyPassword,
  kPasswordTooLong,  // More than kMaxPasswordBytes.
  kBadParams,        // !IsValidScryptParams, or a salt of the wrong size.
  kInternal,         // RAND_bytes or EVP_PBE_scrypt failed (e.g. out of memory).
};

struct HashResult {
  PasswordError error = PasswordError::kOk;
  std::string_view reason;  // Static text, empty on success; safe to show to the registering user.
  std::string encoded;      // The stored form, when error == kOk.

  bool ok() const { return error == PasswordError::kOk; }
};

// Hashes with a fresh 16-byte salt from RAND_bytes. Slow (see above).
HashResult HashPassword(std::string_view password, const ScryptParams& params = {});

// The same with a caller-chosen salt (1 to 64 bytes): deterministic, for test vectors and for
// importing hashes. Production code wants HashPassword.
HashResult HashPasswordWithSalt(std::string_view password, std::span<const uint8_t> salt,
                                const ScryptParams& params = {});

enum class VerifyOutcome : uint8_t {
  kMatch,
  kMismatch,       // Wrong password, or one that could never have been stored (empty, too long).
  kMalformedHash,  // `encoded` is not a hash we wrote: worth logging, then answer as kMismatch.
};

// Recomputes the KDF with the parameters and salt stored in `encoded` and compares in constant
// time (CRYPTO_memcmp). Slow when the hash is well formed; a malformed hash or an impossible
// password returns at once, which reveals nothing about the password itself.
VerifyOutcome VerifyPassword(std::string_view password, std::string_view encoded);

// Spends the time of a VerifyPassword with `params` and returns nothing. Login calls it for an
// unknown username so that the response time does not tell which usernames exist.
void SimulateVerify(std::string_view password, const ScryptParams& params = {});

// True when `encoded` should be replaced by HashPassword(password, params) after a successful
// login: another scheme, other parameters, another salt or hash size, or malformed.
bool NeedsRehash(std::string_view encoded, const ScryptParams& params = {});

}  // namespace ringcast::auth
