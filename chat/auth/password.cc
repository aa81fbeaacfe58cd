// scrypt password hashes; format and parameter choice in password.h.
#include "chat/auth/password.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <charconv>
#include <optional>
#include <vector>

#include "chat/auth/encoding.h"

namespace ringcast::auth {
namespace {

constexpr std::string_view kScheme = "scrypt";
constexpr uint64_t kMaxScryptMemory = uint64_t{256} << 20;
constexpr size_t kMinSaltBytes = 1;
constexpr size_t kMaxSaltBytes = 64;
constexpr size_t kMinHashBytes = 16;
constexpr size_t kMaxHashBytes = 64;
// Far above any hash we write (about 90 characters); stops parsing garbage early.
constexpr size_t kMaxEncodedBytes = 512;

struct ParsedHash {
  ScryptParams params;
  std::string salt;
  std::string hash;
};

HashResult Fail(PasswordError error, std::string_view reason) {
  HashResult r;
  r.error = error;
  r.reason = reason;
  return r;
}

std::string FormatParams(const ScryptParams& params) {
  return "ln=" + std::to_string(params.log2_n) + ",r=" + std::to_string(params.r) +
         ",p=" + std::to_string(params.p);
}

// Reads "<name>=<decimal>" from the front of `text` and the separator after it, if any.
bool ReadParam(std::string_view* text, std::string_view name, uint32_t* value) {
  if (text->substr(0, name.size()) != name || text->size() <= name.size() ||
      (*text)[name.size()] != '=') {
    return false;
  }
  const char* begin = text->data() + name.size() + 1;
  const char* end = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(begin, end, *value);
  if (ec != std::errc() || ptr == begin) return false;
  text->remove_prefix(static_cast<size_t>(ptr - text->data()));
  return true;
}

std::optional<ScryptParams> ParseParams(std::string_view text) {
  ScryptParams params;
  std::string_view rest = text;
  if (!ReadParam(&rest, "ln", &params.log2_n) || rest.empty() || rest[0] != ',') return {};
  rest.remove_prefix(1);
  if (!ReadParam(&rest, "r", &params.r) || rest.empty() || rest[0] != ',') return {};
  rest.remove_prefix(1);
  if (!ReadParam(&rest, "p", &params.p) || !rest.empty()) return {};
  // Only the form we write ("ln=014" or "r=+8" would also parse): one text per hash.
  if (FormatParams(params) != text) return {};
  return params;
}

std::optional<ParsedHash> Parse(std::string_view encoded) {
  if (encoded.size() > kMaxEncodedBytes) return {};
  std::array<std::string_view, 4> fields;
  size_t count = 0;
  size_t start = 0;
  while (true) {
    const size_t dollar = encoded.find('$', start);
    if (count == fields.size()) return {};  // A fifth field.
    fields[count++] =
        encoded.substr(start, dollar == std::string_view::npos ? dollar : dollar - start);
    if (dollar == std::string_view::npos) break;
    start = dollar + 1;
  }
  if (count != fields.size() || fields[0] != kScheme) return {};
  ParsedHash parsed;
  const std::optional<ScryptParams> params = ParseParams(fields[1]);
  if (!params || !IsValidScryptParams(*params)) return {};
  parsed.params = *params;
  std::optional<std::string> salt = Base64UrlDecode(fields[2]);
  std::optional<std::string> hash = Base64UrlDecode(fields[3]);
  if (!salt || salt->size() < kMinSaltBytes || salt->size() > kMaxSaltBytes) return {};
  if (!hash || hash->size() < kMinHashBytes || hash->size() > kMaxHashBytes) return {};
  parsed.salt = std::move(*salt);
  parsed.hash = std::move(*hash);
  return parsed;
}

// Fills `out` with scrypt(password, salt, params). The caller has validated the parameters.
bool Derive(std::string_view password, std::span<const uint8_t> salt, const ScryptParams& params,
            std::span<uint8_t> out) {
  const uint64_t n = uint64_t{1} << params.log2_n;
  // OpenSSL refuses work needing more than `maxmem` (default 32 MiB): V is 128*r*(N+2) bytes and
  // B is 128*r*p; allow exactly what these parameters need.
  const uint64_t maxmem = uint64_t{128} * params.r * (n + 2 + params.p);
  return EVP_PBE_scrypt(password.data(), password.size(), salt.data(), salt.size(), n, params.r,
                        params.p, maxmem, out.data(), out.size()) == 1;
}

std::optional<PasswordError> CheckPassword(std::string_view password) {
  if (password.empty()) return PasswordError::kEmptyPassword;
  if (password.size() > kMaxPasswordBytes) return PasswordError::kPasswordTooLong;
  return std::nullopt;
}

}  // namespace

bool IsValidScryptParams(const ScryptParams& params) {
  if (params.log2_n < 1 || params.log2_n > 20) return false;
  if (params.r < 1 || params.r > 32 || params.p < 1 || params.p > 16) return false;
  return (uint64_t{128} * params.r << params.log2_n) <= kMaxScryptMemory;
}

HashResult HashPasswordWithSalt(std::string_view password, std::span<const uint8_t> salt,
                                const ScryptParams& params) {
  if (const std::optional<PasswordError> e = CheckPassword(password)) {
    return Fail(*e, *e == PasswordError::kEmptyPassword ? "password is empty"
                                                        : "password is longer than 1024 bytes");
  }
  if (!IsValidScryptParams(params)) return Fail(PasswordError::kBadParams, "bad scrypt parameters");
  if (salt.size() < kMinSaltBytes || salt.size() > kMaxSaltBytes) {
    return Fail(PasswordError::kBadParams, "salt must be 1 to 64 bytes");
  }
  std::array<uint8_t, kPasswordHashBytes> hash;
  if (!Derive(password, salt, params, hash)) {
    return Fail(PasswordError::kInternal, "scrypt failed");
  }
  HashResult r;
  r.encoded = std::string(kScheme) + "$" + FormatParams(params) + "$" + Base64UrlEncode(salt) +
              "$" + Base64UrlEncode(hash);
  OPENSSL_cleanse(hash.data(), hash.size());
  return r;
}

HashResult HashPassword(std::string_view password, const ScryptParams& params) {
  std::array<uint8_t, kPasswordSaltBytes> salt;
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
    return Fail(PasswordError::kInternal, "RAND_bytes failed");
  }
  return HashPasswordWithSalt(password, salt, params);
}

VerifyOutcome VerifyPassword(std::string_view password, std::string_view encoded) {
  const std::optional<ParsedHash> parsed = Parse(encoded);
  if (!parsed) return VerifyOutcome::kMalformedHash;
  if (CheckPassword(password)) return VerifyOutcome::kMismatch;
  std::vector<uint8_t> computed(parsed->hash.size());
  if (!Derive(password, AsBytes(parsed->salt), parsed->params, computed)) {
    return VerifyOutcome::kMismatch;  // Out of memory: fail closed.
  }
  // Constant time, so response timing does not reveal how many leading bytes matched.
  const bool match = CRYPTO_memcmp(computed.data(), parsed->hash.data(), computed.size()) == 0;
  OPENSSL_cleanse(computed.data(), computed.size());
  return match ? VerifyOutcome::kMatch : VerifyOutcome::kMismatch;
}

void SimulateVerify(std::string_view password, const ScryptParams& params) {
  if (CheckPassword(password) || !IsValidScryptParams(params)) return;
  const std::array<uint8_t, kPasswordSaltBytes> salt{};
  std::array<uint8_t, kPasswordHashBytes> ignored;
  Derive(password, salt, params, ignored);
}

bool NeedsRehash(std::string_view encoded, const ScryptParams& params) {
  const std::optional<ParsedHash> parsed = Parse(encoded);
  return !parsed || parsed->params != params || parsed->salt.size() != kPasswordSaltBytes ||
         parsed->hash.size() != kPasswordHashBytes;
}

}  // namespace ringcast::auth
