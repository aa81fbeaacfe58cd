#include "chat/auth/password.h"

#include <gtest/gtest.h>

#include <string>

#include "chat/auth/encoding.h"

namespace ringcast::auth {

// Readable names in assertion messages; found by ADL, so outside the anonymous namespace.
void PrintTo(VerifyOutcome v, std::ostream* os) {
  constexpr const char* kNames[] = {"kMatch", "kMismatch", "kMalformedHash"};
  *os << kNames[static_cast<int>(v)];
}
void PrintTo(PasswordError e, std::ostream* os) {
  constexpr const char* kNames[] = {"kOk", "kEmptyPassword", "kPasswordTooLong", "kBadParams",
                                    "kInternal"};
  *os << kNames[static_cast<int>(e)];
}

namespace {

constexpr ScryptParams kFast = ScryptParams::ForTests();

HashResult HashWithSalt(std::string_view password, std::string_view salt,
                        const ScryptParams& params) {
  return HashPasswordWithSalt(password, AsBytes(salt), params);
}

// The fields of an encoded hash, split on '$'.
std::vector<std::string> Fields(const std::string& encoded) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    const size_t dollar = encoded.find('$', start);
    fields.push_back(encoded.substr(start, dollar - start));
    if (dollar == std::string::npos) return fields;
    start = dollar + 1;
  }
}

// RFC 7914 §12, first 32 bytes of the 64-byte outputs (PBKDF2's first block is the same for
// any dkLen), re-encoded in our format. Vector 3 uses exactly our default parameters.
TEST(PasswordTest, Rfc7914Vectors) {
  const HashResult defaults = HashWithSalt("pleaseletmein", "SodiumChloride", ScryptParams{});
  ASSERT_TRUE(defaults.ok()) << defaults.reason;
  EXPECT_EQ(defaults.encoded,
            "scrypt$ln=14,r=8,p=1$U29kaXVtQ2hsb3JpZGU$cCO9yzr9c0hGHAbNgf046_2o-7qQT44-qbVD9lRdofI");
  EXPECT_EQ(VerifyPassword("pleaseletmein", defaults.encoded), VerifyOutcome::kMatch);

  const HashResult lanes = HashWithSalt("password", "NaCl", {.log2_n = 10, .r = 8, .p = 16});
  ASSERT_TRUE(lanes.ok()) << lanes.reason;
  EXPECT_EQ(lanes.encoded,
            "scrypt$ln=10,r=8,p=16$TmFDbA$_bq-HJ00cgB4VucZDQHp_nxq18vII3gw53N2Y0s3MWI");
}

// Computed with Python: hashlib.scrypt(b"hunter2", salt=bytes(range(16)), n=64, r=8, p=1,
// dklen=32), base64url without padding.
TEST(PasswordTest, TestParamsVector) {
  std::string salt;
  for (char c = 0; c < 16; ++c) salt += c;
  const HashResult r = HashWithSalt("hunter2", salt, kFast);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(
      r.encoded,
      "scrypt$ln=6,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$V0qRnkJZuu1Y2H1LvGQw6hAX9hZqBSwxbIIPXVwzSDg");
}

TEST(PasswordTest, RoundTripWithDefaults) {
  const HashResult r = HashPassword("correct horse battery staple");
  ASSERT_TRUE(r.ok()) << r.reason;
  EXPECT_TRUE(r.reason.empty());
  EXPECT_EQ(r.encoded.rfind("scrypt$ln=14,r=8,p=1$", 0), 0u) << r.encoded;
  EXPECT_EQ(VerifyPassword("correct horse battery staple", r.encoded), VerifyOutcome::kMatch);
  EXPECT_EQ(VerifyPassword("correct horse battery stapler", r.encoded), VerifyOutcome::kMismatch);
  EXPECT_FALSE(NeedsRehash(r.encoded));
}

TEST(PasswordTest, EncodedFormHasSaltAndHashOfTheDocumentedSizes) {
  const HashResult r = HashPassword("pw", kFast);
  ASSERT_TRUE(r.ok());
  const std::vector<std::string> fields = Fields(r.encoded);
  ASSERT_EQ(fields.size(), 4u) << r.encoded;
  EXPECT_EQ(fields[0], "scrypt");
  EXPECT_EQ(fields[1], "ln=6,r=8,p=1");
  EXPECT_EQ(Base64UrlDecode(fields[2]).value_or("").size(), kPasswordSaltBytes);
  EXPECT_EQ(Base64UrlDecode(fields[3]).value_or("").size(), kPasswordHashBytes);
}

TEST(PasswordTest, WrongPasswordsMismatch) {
  const HashResult r = HashPassword("s3cret", kFast);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(VerifyPassword("s3cret", r.encoded), VerifyOutcome::kMatch);
  for (const std::string_view wrong : {"s3cre", "s3cret ", "S3cret", "s3cres", "x"}) {
    EXPECT_EQ(VerifyPassword(wrong, r.encoded), VerifyOutcome::kMismatch) << wrong;
  }
  // Impossible passwords are a plain mismatch, not an error the caller could leak.
  EXPECT_EQ(VerifyPassword("", r.encoded), VerifyOutcome::kMismatch);
  EXPECT_EQ(VerifyPassword(std::string(kMaxPasswordBytes + 1, 'a'), r.encoded),
            VerifyOutcome::kMismatch);
}

TEST(PasswordTest, PasswordsAreBytesIncludingNul) {
  const std::string with_nul("a\0b", 3);
  const HashResult r = HashPassword(with_nul, kFast);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(VerifyPassword(with_nul, r.encoded), VerifyOutcome::kMatch);
  EXPECT_EQ(VerifyPassword("a", r.encoded), VerifyOutcome::kMismatch);
  const HashResult utf8 = HashPassword("p\xc3\xa4ssw\xc3\xb6rd", kFast);
  ASSERT_TRUE(utf8.ok());
  EXPECT_EQ(VerifyPassword("p\xc3\xa4ssw\xc3\xb6rd", utf8.encoded), VerifyOutcome::kMatch);
}

TEST(PasswordTest, SaltsDiffer) {
  const HashResult a = HashPassword("same password", kFast);
  const HashResult b = HashPassword("same password", kFast);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a.encoded, b.encoded);
  EXPECT_NE(Fields(a.encoded)[2], Fields(b.encoded)[2]);
  EXPECT_NE(Fields(a.encoded)[3], Fields(b.encoded)[3]);
  EXPECT_EQ(VerifyPassword("same password", a.encoded), VerifyOutcome::kMatch);
  EXPECT_EQ(VerifyPassword("same password", b.encoded), VerifyOutcome::kMatch);
}

TEST(PasswordTest, RejectsEmptyAndOversizePasswords) {
  const HashResult empty = HashPassword("", kFast);
  EXPECT_EQ(empty.error, PasswordError::kEmptyPassword);
  EXPECT_FALSE(empty.reason.empty());
  EXPECT_TRUE(empty.encoded.empty());

  const HashResult too_long = HashPassword(std::string(kMaxPasswordBytes + 1, 'x'), kFast);
  EXPECT_EQ(too_long.error, PasswordError::kPasswordTooLong);
  EXPECT_NE(too_long.reason.find("1024"), std::string_view::npos) << too_long.reason;

  const std::string longest(kMaxPasswordBytes, 'x');
  const HashResult at_limit = HashPassword(longest, kFast);
  ASSERT_TRUE(at_limit.ok());
  EXPECT_EQ(VerifyPassword(longest, at_limit.encoded), VerifyOutcome::kMatch);
}

TEST(PasswordTest, RejectsBadParamsAndSalts) {
  for (const ScryptParams& bad : {
           ScryptParams{.log2_n = 0, .r = 8, .p = 1}, ScryptParams{.log2_n = 21, .r = 1, .p = 1},
           ScryptParams{.log2_n = 10, .r = 0, .p = 1}, ScryptParams{.log2_n = 10, .r = 33, .p = 1},
           ScryptParams{.log2_n = 10, .r = 8, .p = 0}, ScryptParams{.log2_n = 10, .r = 8, .p = 17},
           ScryptParams{.log2_n = 20, .r = 8, .p = 1},  // 1 GiB.
       }) {
    EXPECT_FALSE(IsValidScryptParams(bad)) << bad.log2_n << " " << bad.r << " " << bad.p;
    EXPECT_EQ(HashPassword("pw", bad).error, PasswordError::kBadParams);
  }
  EXPECT_TRUE(IsValidScryptParams({.log2_n = 18, .r = 8, .p = 1}));  // 256 MiB, the limit.
  EXPECT_TRUE(IsValidScryptParams(ScryptParams{}));
  EXPECT_EQ(HashWithSalt("pw", "", kFast).error, PasswordError::kBadParams);
  EXPECT_EQ(HashWithSalt("pw", std::string(65, 's'), kFast).error, PasswordError::kBadParams);
}

TEST(PasswordTest, EveryOneCharacterTamperFails) {
  const HashResult r = HashPassword("tamper me", kFast);
  ASSERT_TRUE(r.ok());
  for (size_t i = 0; i < r.encoded.size(); ++i) {
    for (const char c : {'A', 'z', '0', '$', '='}) {
      if (r.encoded[i] == c) continue;
      std::string tampered = r.encoded;
      tampered[i] = c;
      EXPECT_NE(VerifyPassword("tamper me", tampered), VerifyOutcome::kMatch) << tampered;
    }
  }
}

TEST(PasswordTest, TamperedHashBytesMismatch) {
  const HashResult r = HashWithSalt("pw", "0123456789abcdef", kFast);
  ASSERT_TRUE(r.ok());
  std::vector<std::string> f = Fields(r.encoded);
  std::string hash = *Base64UrlDecode(f[3]);
  hash[31] ^= 1;
  EXPECT_EQ(VerifyPassword("pw", f[0] + "$" + f[1] + "$" + f[2] + "$" + Base64UrlEncode(hash)),
            VerifyOutcome::kMismatch);
  // Another salt or other parameters give another hash.
  EXPECT_EQ(VerifyPassword(
                "pw", f[0] + "$" + f[1] + "$" + Base64UrlEncode("0123456789abcdeg") + "$" + f[3]),
            VerifyOutcome::kMismatch);
  EXPECT_EQ(VerifyPassword("pw", f[0] + "$ln=7,r=8,p=1$" + f[2] + "$" + f[3]),
            VerifyOutcome::kMismatch);
}

TEST(PasswordTest, MalformedHashesAreReported) {
  const HashResult r = HashWithSalt("pw", "0123456789abcdef", kFast);
  ASSERT_TRUE(r.ok());
  const std::vector<std::string> f = Fields(r.encoded);
  const std::string salt = f[2];
  const std::string hash = f[3];
  for (const std::string& bad : {
           std::string(),
           std::string("scrypt"),
           "scrypt$" + f[1] + "$" + salt,                     // Three fields.
           "scrypt$" + f[1] + "$" + salt + "$" + hash + "$",  // Five fields.
           "pbkdf2-sha256$600000$" + salt + "$" + hash,       // Another scheme.
           "SCRYPT$" + f[1] + "$" + salt + "$" + hash,
           "scrypt$ln=06,r=8,p=1$" + salt + "$" + hash,  // Not the canonical form.
           "scrypt$ln=+6,r=8,p=1$" + salt + "$" + hash,
           "scrypt$ln=6, r=8,p=1$" + salt + "$" + hash,
           "scrypt$r=8,ln=6,p=1$" + salt + "$" + hash,
           "scrypt$ln=6,r=8$" + salt + "$" + hash,
           "scrypt$ln=6,r=8,p=1,x=1$" + salt + "$" + hash,
           "scrypt$ln=,r=8,p=1$" + salt + "$" + hash,
           "scrypt$ln=99,r=8,p=1$" + salt + "$" + hash,  // Out of range.
           "scrypt$ln=6,r=0,p=1$" + salt + "$" + hash,
           "scrypt$ln=6,r=8,p=99999999999$" + salt + "$" + hash,
           "scrypt$" + f[1] + "$$" + hash,                            // Empty salt.
           "scrypt$" + f[1] + "$" + salt + "$",                       // Empty hash.
           "scrypt$" + f[1] + "$" + salt + "==$" + hash,              // Padding.
           "scrypt$" + f[1] + "$" + salt + "$" + hash.substr(0, 20),  // 15-byte hash.
           "scrypt$" + f[1] + "$" + salt + "$" + hash + " ",
           "scrypt$" + f[1] + "$" + salt + "$" + hash + std::string(600, 'A'),
       }) {
    EXPECT_EQ(VerifyPassword("pw", bad), VerifyOutcome::kMalformedHash) << bad;
    EXPECT_TRUE(NeedsRehash(bad, kFast)) << bad;
  }
}

TEST(PasswordTest, NeedsRehashWhenParametersChange) {
  const HashResult r = HashPassword("pw", kFast);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(NeedsRehash(r.encoded, kFast));
  EXPECT_TRUE(NeedsRehash(r.encoded));  // The defaults are stronger than the test setting.
  EXPECT_TRUE(NeedsRehash(r.encoded, {.log2_n = 7, .r = 8, .p = 1}));
  EXPECT_TRUE(NeedsRehash(r.encoded, {.log2_n = 6, .r = 4, .p = 1}));
  EXPECT_TRUE(NeedsRehash(r.encoded, {.log2_n = 6, .r = 8, .p = 2}));
  // A hash imported with a short salt verifies but is replaced at the next login.
  const HashResult short_salt = HashWithSalt("pw", "12345678", kFast);
  ASSERT_TRUE(short_salt.ok());
  EXPECT_EQ(VerifyPassword("pw", short_salt.encoded), VerifyOutcome::kMatch);
  EXPECT_TRUE(NeedsRehash(short_salt.encoded, kFast));
}

TEST(PasswordTest, SimulateVerifyRunsForAnyInput) {
  SimulateVerify("no such user's password", kFast);
  SimulateVerify("", kFast);
  SimulateVerify("pw", {.log2_n = 0, .r = 0, .p = 0});
}

}  // namespace
}  // namespace ringcast::auth
