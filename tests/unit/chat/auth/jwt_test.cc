#include "chat/auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "chat/auth/encoding.h"

namespace ringcast::auth {

// Readable names in assertion messages; found by ADL, so outside the anonymous namespace.
void PrintTo(JwtError e, std::ostream* os) {
  constexpr const char* kNames[] = {"kOk", "kMalformed", "kBadSignature", "kExpired",
                                    "kWrongAlgorithm"};
  *os << kNames[static_cast<int>(e)];
}

namespace {

constexpr std::string_view kSecretHex =
    "72696e67636173742d6a77742d746573742d7365637265742d33326279746573";  // The ASCII below.
constexpr std::string_view kSecretText = "ringcast-jwt-test-secret-32bytes";
constexpr std::string_view kHeaderJson = R"({"alg":"HS256","typ":"JWT"})";
constexpr int64_t kIat = 1700000000;
constexpr int64_t kExp = 1700003600;
constexpr std::string_view kJti = "AAECAwQFBgcICQoLDA0ODw";  // base64url of bytes 0..15.

// Computed with Python's hmac, hashlib and base64 for kSecretText and
// {"sub":"42","iat":1700000000,"exp":1700003600,"jti":"AAECAwQFBgcICQoLDA0ODw"}.
constexpr std::string_view kVectorToken =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiI0MiIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwLCJqdGkiOiJBQUVDQXdRRkJnY0lDUW9MRE"
    "Ew"
    "T0R3In0.OELesrIQycHajRiAOXbLl62GJy9e8thCy_6VE7gHLso";

class JwtTest : public ::testing::Test {
 protected:
  // Signs arbitrary header and claims JSON, as an attacker holding the key (or a buggy issuer)
  // could: everything VerifyJwt must still refuse after the signature check.
  std::string Forge(std::string_view header_json, std::string_view claims_json,
                    const EVP_MD* md = EVP_sha256()) const {
    const std::string input = Base64UrlEncode(header_json) + "." + Base64UrlEncode(claims_json);
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(md, secret_.bytes().data(), static_cast<int>(secret_.bytes().size()),
         reinterpret_cast<const uint8_t*>(input.data()), input.size(), mac, &len);
    return input + "." + Base64UrlEncode(std::span<const uint8_t>(mac, len));
  }

  std::string ForgeClaims(std::string_view claims_json) const {
    return Forge(kHeaderJson, claims_json);
  }

  JwtVerifyResult Verify(std::string_view token, int64_t now = kIat) const {
    return VerifyJwt(token, secret_, now);
  }

  static JwtClaims VectorClaims() {
    return {.user_id = 42, .jti = std::string(kJti), .iat = kIat, .exp = kExp};
  }

  JwtSecret secret_ = *JwtSecret::FromBytes(AsBytes(kSecretText));
};

TEST_F(JwtTest, KnownVector) {
  EXPECT_EQ(SignJwt(VectorClaims(), secret_), kVectorToken);
  const JwtVerifyResult r = Verify(kVectorToken);
  ASSERT_TRUE(r.ok()) << r.reason;
  EXPECT_TRUE(r.reason.empty());
  EXPECT_EQ(r.claims.user_id, 42);
  EXPECT_EQ(r.claims.jti, kJti);
  EXPECT_EQ(r.claims.iat, kIat);
  EXPECT_EQ(r.claims.exp, kExp);
}

// The access token of a login with refresh tokens names the login's family (logout revokes it).
TEST_F(JwtTest, IssueWithAJtiPrefix) {
  const std::optional<IssuedJwt> a = IssueJwt(7, kIat, 3600, secret_, "family");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->claims.jti.substr(0, 7), "family.");
  EXPECT_EQ(a->claims.jti.size(), 7u + 22u);
  EXPECT_EQ(Verify(a->token, kIat + 10).claims.jti, a->claims.jti);
}

TEST_F(JwtTest, IssueRoundTrip) {
  const std::optional<IssuedJwt> a = IssueJwt(7, kIat, 3600, secret_);
  const std::optional<IssuedJwt> b = IssueJwt(7, kIat, 3600, secret_);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->claims.user_id, 7);
  EXPECT_EQ(a->claims.iat, kIat);
  EXPECT_EQ(a->claims.exp, kIat + 3600);
  EXPECT_EQ(a->claims.jti.size(), 22u);  // 128 bits in base64url.
  EXPECT_TRUE(Base64UrlDecode(a->claims.jti).has_value());
  EXPECT_NE(a->claims.jti, b->claims.jti);
  EXPECT_NE(a->token, b->token);
  const JwtVerifyResult r = Verify(a->token, kIat + 10);
  ASSERT_TRUE(r.ok()) << r.reason;
  EXPECT_EQ(r.claims.user_id, 7);
  EXPECT_EQ(r.claims.jti, a->claims.jti);
  EXPECT_EQ(r.claims.exp, a->claims.exp);
  EXPECT_EQ(r.claims.iat, kIat);
}

TEST_F(JwtTest, LargeUserIdAndEscapedJtiRoundTrip) {
  JwtClaims claims = VectorClaims();
  claims.user_id = std::numeric_limits<int64_t>::max();
  claims.jti = "q\"uo\\te\n\x01";
  const std::string token = SignJwt(claims, secret_);
  ASSERT_FALSE(token.empty());
  const JwtVerifyResult r = Verify(token);
  ASSERT_TRUE(r.ok()) << r.reason;
  EXPECT_EQ(r.claims.user_id, claims.user_id);
  EXPECT_EQ(r.claims.jti, claims.jti);
}

TEST_F(JwtTest, RefusesToSignOrIssueBadClaims) {
  JwtClaims claims = VectorClaims();
  claims.user_id = 0;
  EXPECT_TRUE(SignJwt(claims, secret_).empty());
  claims = VectorClaims();
  claims.jti.clear();
  EXPECT_TRUE(SignJwt(claims, secret_).empty());
  claims.jti = std::string(kMaxJtiBytes + 1, 'j');
  EXPECT_TRUE(SignJwt(claims, secret_).empty());
  EXPECT_FALSE(IssueJwt(-1, kIat, 60, secret_).has_value());
  EXPECT_FALSE(IssueJwt(1, kIat, 0, secret_).has_value());
  EXPECT_FALSE(IssueJwt(1, std::numeric_limits<int64_t>::max(), 60, secret_).has_value());
}

TEST_F(JwtTest, Expiry) {
  EXPECT_TRUE(Verify(kVectorToken, kExp - 1).ok());
  EXPECT_EQ(Verify(kVectorToken, kExp).error, JwtError::kExpired);
  EXPECT_EQ(Verify(kVectorToken, kExp + 86400).error, JwtError::kExpired);
  EXPECT_TRUE(VerifyJwt(kVectorToken, secret_, kExp + 4, 5).ok());
  EXPECT_EQ(VerifyJwt(kVectorToken, secret_, kExp + 5, 5).error, JwtError::kExpired);
  EXPECT_EQ(VerifyJwt(kVectorToken, secret_, kExp, -100).error, JwtError::kExpired);
  // A far-future exp plus leeway must not overflow into the past.
  JwtClaims forever = VectorClaims();
  forever.exp = std::numeric_limits<int64_t>::max();
  EXPECT_TRUE(VerifyJwt(SignJwt(forever, secret_), secret_, kIat, 60).ok());
}

TEST_F(JwtTest, WrongSecretIsBadSignature) {
  const std::optional<JwtSecret> other = JwtSecret::Generate();
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(VerifyJwt(kVectorToken, *other, kIat).error, JwtError::kBadSignature);
}

TEST_F(JwtTest, TamperedPayloadIsBadSignature) {
  const std::string token(kVectorToken);
  const size_t dot1 = token.find('.');
  const size_t dot2 = token.find('.', dot1 + 1);
  const std::string evil = Base64UrlEncode(
      R"({"sub":"1","iat":1700000000,"exp":1700003600,"jti":"AAECAwQFBgcICQoLDA0ODw"})");
  const std::string forged = token.substr(0, dot1 + 1) + evil + token.substr(dot2);
  const JwtVerifyResult r = Verify(forged);
  EXPECT_EQ(r.error, JwtError::kBadSignature);
  EXPECT_FALSE(r.reason.empty());
  EXPECT_EQ(r.claims.user_id, 0);  // Nothing from an unauthenticated token leaks out.
}

TEST_F(JwtTest, TamperedSignatureIsBadSignature) {
  std::string token(kVectorToken);
  const size_t sig = token.rfind('.') + 1;
  token[sig] = token[sig] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Verify(token).error, JwtError::kBadSignature);
  // Truncated to a shorter valid base64url MAC.
  const std::string truncated(kVectorToken.substr(0, kVectorToken.size() - 3));
  EXPECT_EQ(Verify(truncated).error, JwtError::kBadSignature);
  // Empty signature, and a 33-byte one.
  EXPECT_EQ(Verify(kVectorToken.substr(0, sig)).error, JwtError::kBadSignature);
  EXPECT_EQ(Verify(std::string(kVectorToken) + "A").error, JwtError::kBadSignature);
}

TEST_F(JwtTest, EveryOneCharacterTamperFails) {
  for (size_t i = 0; i < kVectorToken.size(); ++i) {
    for (const char c : {'A', 'f', '-', '.', '='}) {
      if (kVectorToken[i] == c) continue;
      std::string token(kVectorToken);
      token[i] = c;
      EXPECT_FALSE(Verify(token).ok()) << token;
    }
  }
}

TEST_F(JwtTest, TamperedHeaderIsRejectedEvenWhenSigned) {
  const std::string claims = R"({"sub":"42","iat":1700000000,"exp":1700003600,"jti":"x"})";
  EXPECT_TRUE(Verify(ForgeClaims(claims)).ok());
  for (const std::string_view header : {
           R"({"typ":"JWT","alg":"HS256"})",
           R"({"alg":"HS256"})",
           R"({"alg":"HS256","typ":"JWT","kid":"1"})",
           R"({"alg":"HS256","typ":"JWT","crit":["exp"]})",
           R"({ "alg":"HS256","typ":"JWT"})",
           R"({"alg":"HS256","typ":"jwt"})",
       }) {
    const JwtVerifyResult r = Verify(Forge(header, claims));
    EXPECT_EQ(r.error, JwtError::kMalformed) << header;
  }
  for (const std::string_view header :
       {R"(["alg","HS256"])", "not json", R"({"typ":"JWT"})", R"({"alg":256})", ""}) {
    EXPECT_EQ(Verify(Forge(header, claims)).error, JwtError::kMalformed) << header;
  }
}

TEST_F(JwtTest, AlgNoneIsWrongAlgorithm) {
  const std::string claims = Base64UrlEncode(
      R"({"sub":"42","iat":1700000000,"exp":1700003600,"jti":"AAECAwQFBgcICQoLDA0ODw"})");
  for (const std::string_view header :
       {R"({"alg":"none","typ":"JWT"})", R"({"alg":"none"})", R"({"typ":"JWT","alg":"none"})"}) {
    const std::string unsigned_token = Base64UrlEncode(header) + "." + claims + ".";
    const JwtVerifyResult r = Verify(unsigned_token);
    EXPECT_EQ(r.error, JwtError::kWrongAlgorithm) << header;
    EXPECT_NE(r.reason.find("none"), std::string_view::npos) << r.reason;
    // A signature does not make it acceptable either.
    EXPECT_EQ(Verify(Forge(header, R"({"sub":"42","iat":1,"exp":1700003600,"jti":"x"})")).error,
              JwtError::kWrongAlgorithm);
  }
}

TEST_F(JwtTest, OtherAlgorithmsAreWrongAlgorithm) {
  const std::string claims = R"({"sub":"42","iat":1700000000,"exp":1700003600,"jti":"x"})";
  EXPECT_EQ(Verify(Forge(R"({"alg":"HS512","typ":"JWT"})", claims, EVP_sha512())).error,
            JwtError::kWrongAlgorithm);
  EXPECT_EQ(Verify(Forge(R"({"alg":"HS384","typ":"JWT"})", claims, EVP_sha384())).error,
            JwtError::kWrongAlgorithm);
  // RS256 with the HMAC key: the classic key-confusion attack.
  EXPECT_EQ(Verify(Forge(R"({"alg":"RS256","typ":"JWT"})", claims)).error,
            JwtError::kWrongAlgorithm);
  EXPECT_EQ(Verify(Forge(R"({"alg":"hs256","typ":"JWT"})", claims)).error,
            JwtError::kWrongAlgorithm);
}

TEST_F(JwtTest, ClaimsMustBeAnObject) {
  for (const std::string_view claims :
       {"[]", "42", R"("sub")", "null", "", "{", "{}x", R"({"sub":"42",})", "\xff"}) {
    const JwtVerifyResult r = Verify(ForgeClaims(claims));
    EXPECT_EQ(r.error, JwtError::kMalformed) << claims;
    EXPECT_FALSE(r.reason.empty());
  }
}

TEST_F(JwtTest, MissingClaims) {
  for (const std::string_view claims : {
           R"({"iat":1700000000,"exp":1700003600,"jti":"x"})",
           R"({"sub":"42","exp":1700003600,"jti":"x"})",
           R"({"sub":"42","iat":1700000000,"jti":"x"})",
           R"({"sub":"42","iat":1700000000,"exp":1700003600})",
           R"({})",
       }) {
    const JwtVerifyResult r = Verify(ForgeClaims(claims));
    EXPECT_EQ(r.error, JwtError::kMalformed) << claims;
    EXPECT_NE(r.reason.find("missing"), std::string_view::npos) << r.reason;
  }
}

TEST_F(JwtTest, WrongClaimTypes) {
  for (const std::string_view claims : {
           R"({"sub":42,"iat":1700000000,"exp":1700003600,"jti":"x"})",
           R"({"sub":"abc","iat":1700000000,"exp":1700003600,"jti":"x"})",
           R"({"sub":"042","iat":1700000000,"exp":1700003600,"jti":"x"})",
           R"({"sub":"0","iat":1700000000,"exp":1700003600,"jti":"x"})",
           R"({"sub":"-1","iat":1700000000,"exp":1700003600,"jti":"x"})",
           R"({"sub":"+1","iat":1700000000,"exp":1700003600,"jti":"x"})",
           R"({"sub":"1 ","iat":1700000000,"exp":1700003600,"jti":"x"})",
           R"({"sub":"","iat":1700000000,"exp":1700003600,"jti":"x"})",
           R"({"sub":"9223372036854775808","iat":1700000000,"exp":1700003600,"jti":"x"})",
           R"({"sub":null,"iat":1700000000,"exp":1700003600,"jti":"x"})",
           R"({"sub":"42","iat":"1700000000","exp":1700003600,"jti":"x"})",
           R"({"sub":"42","iat":true,"exp":1700003600,"jti":"x"})",
           R"({"sub":"42","iat":1700000000,"exp":"1700003600","jti":"x"})",
           R"({"sub":"42","iat":1700000000,"exp":1700003600.5,"jti":"x"})",
           R"({"sub":"42","iat":1700000000,"exp":1.7e9,"jti":"x"})",
           R"({"sub":"42","iat":1700000000,"exp":1e30,"jti":"x"})",
           R"({"sub":"42","iat":1700000000,"exp":18446744073709551615,"jti":"x"})",
           R"({"sub":"42","iat":1700000000,"exp":[1700003600],"jti":"x"})",
           R"({"sub":"42","iat":1700000000,"exp":1700003600,"jti":5})",
           R"({"sub":"42","iat":1700000000,"exp":1700003600,"jti":""})",
           R"({"sub":"42","iat":1700000000,"exp":1700003600,"jti":{}})",
       }) {
    EXPECT_EQ(Verify(ForgeClaims(claims)).error, JwtError::kMalformed) << claims;
  }
  const std::string long_jti(kMaxJtiBytes + 1, 'j');
  EXPECT_EQ(
      Verify(ForgeClaims(R"({"sub":"42","iat":1,"exp":1700003600,"jti":")" + long_jti + "\"}"))
          .error,
      JwtError::kMalformed);
}

TEST_F(JwtTest, DuplicateClaimsAreRejected) {
  EXPECT_EQ(
      Verify(ForgeClaims(R"({"sub":"42","sub":"1","iat":1700000000,"exp":1700003600,"jti":"x"})"))
          .error,
      JwtError::kMalformed);
  EXPECT_EQ(
      Verify(ForgeClaims(R"({"sub":"42","iat":1700000000,"exp":1700003600,"exp":1,"jti":"x"})"))
          .error,
      JwtError::kMalformed);
}

TEST_F(JwtTest, UnknownClaimsAreIgnored) {
  const JwtVerifyResult r = Verify(ForgeClaims(
      R"({"name":"n","sub":"5","iat":1700000000,"exp":1700003600,"jti":"x","nested":{"a":[1]}})"));
  ASSERT_TRUE(r.ok()) << r.reason;
  EXPECT_EQ(r.claims.user_id, 5);
}

TEST_F(JwtTest, WrongNumberOfParts) {
  const std::string token(kVectorToken);
  for (const std::string& bad : {
           std::string(),
           std::string("."),
           std::string(".."),
           std::string("..."),
           std::string("abc"),
           token + ".",
           token + ".x",
           "." + token,
           token.substr(0, token.rfind('.')),
           token.substr(0, token.find('.')) + ".." + token.substr(token.find('.') + 1),
       }) {
    const JwtVerifyResult r = Verify(bad);
    EXPECT_EQ(r.error, JwtError::kMalformed) << bad;
  }
}

TEST_F(JwtTest, BadBase64Url) {
  const std::string token(kVectorToken);
  const size_t dot1 = token.find('.');
  const size_t dot2 = token.find('.', dot1 + 1);
  const std::string header = token.substr(0, dot1);
  const std::string payload = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string signature = token.substr(dot2 + 1);
  for (const std::string& bad : {
           header + "=." + payload + "." + signature,        // Padded header.
           header + "." + payload + "." + signature + "=",   // Padded signature.
           header + "." + payload + "." + signature + "AA",  // 45 characters: one left over.
           header + "." + payload + "." + "+" + signature.substr(1),  // Standard alphabet.
           header + "." + payload + "." + signature.substr(0, 42) + "/",
           header + "." + payload + "." + signature.substr(0, 42) + "p",  // Stray low bits.
           header + "." + payload + "." + signature + " ",
           " " + token,
       }) {
    EXPECT_EQ(Verify(bad).error, JwtError::kMalformed) << bad;
  }
  // A payload the MAC covers but that is not base64url is malformed, not accepted.
  const std::string input = header + "." + payload + "=";
  uint8_t mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecretText.data(), static_cast<int>(kSecretText.size()),
       reinterpret_cast<const uint8_t*>(input.data()), input.size(), mac, &len);
  EXPECT_EQ(Verify(input + "." + Base64UrlEncode(std::span<const uint8_t>(mac, len))).error,
            JwtError::kMalformed);
}

TEST_F(JwtTest, OversizeTokensAreRejected) {
  const auto claims_with_pad = [](size_t n) {
    return R"({"sub":"42","iat":1700000000,"exp":1700003600,"jti":"x","pad":")" +
           std::string(n, 'p') + "\"}";
  };
  const std::string near_limit = ForgeClaims(claims_with_pad(2900));
  ASSERT_LE(near_limit.size(), kMaxTokenBytes);
  EXPECT_TRUE(Verify(near_limit).ok());
  const std::string over = ForgeClaims(claims_with_pad(3000));
  ASSERT_GT(over.size(), kMaxTokenBytes);
  const JwtVerifyResult r = Verify(over);
  EXPECT_EQ(r.error, JwtError::kMalformed);
  EXPECT_NE(r.reason.find("long"), std::string_view::npos) << r.reason;
  EXPECT_EQ(Verify(std::string(1 << 20, 'a')).error, JwtError::kMalformed);
}

TEST(JwtSecretTest, GenerateAndHex) {
  const std::optional<JwtSecret> a = JwtSecret::Generate();
  const std::optional<JwtSecret> b = JwtSecret::Generate();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->bytes().size(), kJwtSecretBytes);
  EXPECT_NE(a->ToHex(), b->ToHex());
  const std::string hex = a->ToHex();
  EXPECT_EQ(hex.size(), 2 * kJwtSecretBytes);
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos);
  const std::optional<JwtSecret> back = JwtSecret::FromHex(hex + "\n");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->ToHex(), hex);
  // The same key signs the same token.
  const JwtClaims claims{.user_id = 1, .jti = "j", .iat = 1, .exp = 2};
  EXPECT_EQ(SignJwt(claims, *a), SignJwt(claims, *back));
}

TEST(JwtSecretTest, FromHexMatchesFromBytes) {
  const std::optional<JwtSecret> hex = JwtSecret::FromHex(kSecretHex);
  ASSERT_TRUE(hex.has_value());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(hex->bytes().data()), hex->bytes().size()),
            kSecretText);
  EXPECT_TRUE(JwtSecret::FromHex("  " + std::string(kSecretHex) + "\r\n").has_value());
  EXPECT_EQ(VerifyJwt(kVectorToken, *hex, kIat).error, JwtError::kOk);
}

TEST(JwtSecretTest, RejectsShortOrBadSecrets) {
  EXPECT_FALSE(JwtSecret::FromBytes({}).has_value());
  EXPECT_FALSE(JwtSecret::FromBytes(AsBytes("your-256-bit-secret")).has_value());  // 19 bytes.
  EXPECT_FALSE(JwtSecret::FromBytes(AsBytes(kSecretText.substr(1))).has_value());  // 31 bytes.
  EXPECT_FALSE(JwtSecret::FromHex("").has_value());
  EXPECT_FALSE(JwtSecret::FromHex(" \n").has_value());
  EXPECT_FALSE(JwtSecret::FromHex(kSecretHex.substr(2)).has_value());  // 31 bytes.
  EXPECT_FALSE(JwtSecret::FromHex(kSecretHex.substr(1)).has_value());  // Odd length.
  EXPECT_FALSE(JwtSecret::FromHex("zz" + std::string(kSecretHex)).has_value());
  EXPECT_FALSE(JwtSecret::FromHex(std::string(kSecretHex.substr(0, 32)) + " " +
                                  std::string(kSecretHex.substr(32)))
                   .has_value());
}

TEST(JwtSecretTest, CopiesAndAssignmentKeepTheKey) {
  JwtSecret a = *JwtSecret::FromHex(kSecretHex);
  JwtSecret b = *JwtSecret::Generate();
  const JwtSecret copy = a;
  b = copy;
  EXPECT_EQ(b.ToHex(), kSecretHex);
  JwtSecret moved = std::move(a);
  EXPECT_EQ(moved.ToHex(), kSecretHex);
}

}  // namespace
}  // namespace ringcast::auth
