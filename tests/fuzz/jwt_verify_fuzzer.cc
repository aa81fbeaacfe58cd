// libFuzzer harness for auth::VerifyJwt (chat/auth/jwt.h), the check every chat connection and
// API call makes on a token from the network.
//
// Input: byte 0 picks what the rest is, so the fuzzer reaches the code behind the signature
// check, which a random token never passes:
//   0: the whole token, as a client sends it;
//   1: the claims JSON, sent in our header and signed with the harness's secret;
//   2: the header JSON, sent with valid claims and signed with the harness's secret.
//
// Invariants checked beyond "no crash, no sanitizer report":
// - an accepted token has claims within JwtClaims' rules and is not expired at `now`, and
//   signing those claims again gives a token that verifies to the same claims;
// - a token we signed (modes 1 and 2) never fails on its signature; a header other than exactly
//   ours is refused (kMalformed or kWrongAlgorithm), whatever it says.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "chat/auth/encoding.h"
#include "chat/auth/jwt.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using ringcast::auth::JwtError;
using ringcast::auth::JwtSecret;
using ringcast::auth::JwtVerifyResult;

constexpr std::string_view kHeaderJson = R"({"alg":"HS256","typ":"JWT"})";
constexpr std::string_view kValidClaims =
    R"({"sub":"42","iat":1700000000,"exp":1800000000,"jti":"AAAAAAAAAAAAAAAAAAAAAA"})";
constexpr int64_t kNow = 1750000000;
constexpr int64_t kLeeway = 30;

const JwtSecret& Secret() {
  static const JwtSecret* secret = [] {
    const uint8_t key[32] = {'r', 'i', 'n', 'g', 'c', 'a', 's', 't', '-', 'f',
                             'u', 'z', 'z', '-', 's', 'e', 'c', 'r', 'e', 't'};
    return new JwtSecret(*JwtSecret::FromBytes(key));
  }();
  return *secret;
}

// header.payload.signature with both parts base64url-encoded here and an HS256 MAC by Secret().
std::string Signed(std::string_view header_json, std::string_view claims_json) {
  using ringcast::auth::Base64UrlEncode;
  std::string token = Base64UrlEncode(header_json) + "." + Base64UrlEncode(claims_json);
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  const std::span<const uint8_t> key = Secret().bytes();
  FUZZ_CHECK(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                  reinterpret_cast<const uint8_t*>(token.data()), token.size(), mac,
                  &mac_size) != nullptr);
  return token + "." + Base64UrlEncode(std::span<const uint8_t>(mac, mac_size));
}

void CheckAccepted(const JwtVerifyResult& result) {
  const ringcast::auth::JwtClaims& claims = result.claims;
  FUZZ_CHECK(result.reason.empty());
  FUZZ_CHECK(claims.user_id > 0);
  FUZZ_CHECK(!claims.jti.empty() && claims.jti.size() <= ringcast::auth::kMaxJtiBytes);
  FUZZ_CHECK(claims.exp > kNow - kLeeway);
  const std::string again = ringcast::auth::SignJwt(claims, Secret());
  FUZZ_CHECK(!again.empty());
  const JwtVerifyResult reverified = ringcast::auth::VerifyJwt(again, Secret(), kNow, kLeeway);
  FUZZ_CHECK(reverified.ok());
  FUZZ_CHECK(reverified.claims.user_id == claims.user_id && reverified.claims.jti == claims.jti &&
             reverified.claims.iat == claims.iat && reverified.claims.exp == claims.exp);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string token;
  switch (data[0] % 3) {
    case 0:
      token = rest;
      break;
    case 1:
      token = Signed(kHeaderJson, rest);
      break;
    default:
      token = Signed(rest, kValidClaims);
      break;
  }
  // Exactly the token's size, so ASan catches a read past its end.
  const ringcast::fuzz::ExactCopy copy(token);
  const std::string_view view = copy.text();

  const JwtVerifyResult result = ringcast::auth::VerifyJwt(view, Secret(), kNow, kLeeway);
  if (result.ok()) {
    CheckAccepted(result);
  } else {
    FUZZ_CHECK(!result.reason.empty());
  }
  if (data[0] % 3 != 0 && token.size() <= ringcast::auth::kMaxTokenBytes) {
    FUZZ_CHECK(result.error != JwtError::kBadSignature);
  }
  if (data[0] % 3 == 2 && rest != kHeaderJson && token.size() <= ringcast::auth::kMaxTokenBytes) {
    FUZZ_CHECK(result.error == JwtError::kMalformed || result.error == JwtError::kWrongAlgorithm);
  }
  if (data[0] % 3 == 2 && rest == kHeaderJson) FUZZ_CHECK(result.ok());
  return 0;
}
