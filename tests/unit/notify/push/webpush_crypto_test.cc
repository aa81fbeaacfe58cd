#include "notify/push/webpush_crypto.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/params.h>

namespace ringcast::notify {
namespace {

std::string Decode(std::string_view text) {
  std::optional<std::string> bytes = Base64UrlDecode(text);
  EXPECT_TRUE(bytes.has_value()) << text;
  return bytes.value_or("");
}

// RFC 8291 Appendix A, its line breaks removed.
constexpr std::string_view kPlaintext = "When I grow up, I want to be a watermelon";
constexpr std::string_view kAsPrivate = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
constexpr std::string_view kAsPublic =
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
constexpr std::string_view kUaPublic =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
constexpr std::string_view kSalt = "DGv6ra1nlYgDCS1FRnbzlw";
constexpr std::string_view kAuthSecret = "BTBZMqHH6r4Tts7J_aSIgg";
constexpr std::string_view kBody =
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6T"
    "lzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4"
    "a-fN";

TEST(WebPushCrypto, Base64UrlRoundTripsEveryLength) {
  std::string bytes;
  for (int n = 0; n < 40; ++n) {
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(bytes)), bytes);
    bytes.push_back(static_cast<char>(n * 37 + 200));
  }
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(Base64UrlDecode("+/8="), "\xfb\xff");  // Standard alphabet and padding accepted.
  EXPECT_FALSE(Base64UrlDecode("a"));
  EXPECT_FALSE(Base64UrlDecode("ab!c"));
}

TEST(WebPushCrypto, PrivateScalarGivesTheRfcPublicKey) {
  std::optional<EcKey> key = EcKey::FromPrivateRaw(Decode(kAsPrivate));
  ASSERT_TRUE(key);
  EXPECT_EQ(Base64UrlEncode(key->PublicRaw()), kAsPublic);
}

TEST(WebPushCrypto, EncryptsTheRfc8291AppendixAExample) {
  std::optional<EcKey> as_key = EcKey::FromPrivateRaw(Decode(kAsPrivate));
  ASSERT_TRUE(as_key);
  std::optional<std::string> body = EncryptPushMessage(kPlaintext, Decode(kUaPublic),
                                                       Decode(kAuthSecret), *as_key, Decode(kSalt));
  ASSERT_TRUE(body);
  EXPECT_EQ(Base64UrlEncode(*body), kBody);
}

TEST(WebPushCrypto, FreshKeysAndSaltEveryMessage) {
  std::optional<std::string> first =
      EncryptPushMessage(kPlaintext, Decode(kUaPublic), Decode(kAuthSecret));
  std::optional<std::string> second =
      EncryptPushMessage(kPlaintext, Decode(kUaPublic), Decode(kAuthSecret));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->size(), 16 + 4 + 1 + 65 + kPlaintext.size() + 1 + 16);
  EXPECT_NE(first->substr(0, 16), second->substr(0, 16));    // Salt.
  EXPECT_NE(first->substr(21, 65), second->substr(21, 65));  // Sender key.
}

TEST(WebPushCrypto, RefusesBadInputs) {
  std::optional<EcKey> as_key = EcKey::FromPrivateRaw(Decode(kAsPrivate));
  ASSERT_TRUE(as_key);
  std::string off_curve = Decode(kUaPublic);
  off_curve[40] ^= 1;
  EXPECT_FALSE(EcKey::FromPublicRaw(off_curve));
  EXPECT_FALSE(EncryptPushMessage(kPlaintext, off_curve, Decode(kAuthSecret)));
  EXPECT_FALSE(EncryptPushMessage(kPlaintext, Decode(kUaPublic), "short"));
  EXPECT_FALSE(EncryptPushMessage(std::string(kPushMaxPlaintext + 1, 'x'), Decode(kUaPublic),
                                  Decode(kAuthSecret)));
  EXPECT_TRUE(EncryptPushMessage(std::string(kPushMaxPlaintext, 'x'), Decode(kUaPublic),
                                 Decode(kAuthSecret)));
}

TEST(WebPushCrypto, PemRoundTrip) {
  std::optional<EcKey> key = EcKey::Generate();
  ASSERT_TRUE(key);
  std::optional<EcKey> again = EcKey::FromPrivatePem(key->PrivatePem());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->PublicRaw(), key->PublicRaw());
  EXPECT_FALSE(EcKey::FromPrivatePem("not a key"));
}

TEST(WebPushCrypto, UrlOrigin) {
  EXPECT_EQ(UrlOrigin("https://push.example.net/send/abc?x=1"), "https://push.example.net");
  EXPECT_EQ(UrlOrigin("http://127.0.0.1:8443/p"), "http://127.0.0.1:8443");
  EXPECT_EQ(UrlOrigin("https://host"), "https://host");
  EXPECT_FALSE(UrlOrigin("ftp://host/x"));
  EXPECT_FALSE(UrlOrigin("https:///x"));
  EXPECT_FALSE(UrlOrigin("https://user@host/x"));
}

// The signature verifies with the public key alone, after turning JOSE's r||s back into DER.
bool VerifyEs256(const EcKey& public_key, std::string_view data, std::string_view raw) {
  if (raw.size() != 64) return false;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr),
                 BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr));
  unsigned char* der = nullptr;
  const int der_length = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  // EcKey keeps its EVP_PKEY private: verify through a fresh EVP_PKEY of the same point.
  EVP_PKEY* pkey = nullptr;
  {
    std::string point = public_key.PublicRaw();
    char group[] = "prime256v1";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("group", group, 0),
                           OSSL_PARAM_construct_octet_string("pub", point.data(), point.size()),
                           OSSL_PARAM_construct_end()};
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
    EVP_PKEY_fromdata_init(ctx);
    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
  }
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  const bool ok =
      pkey && EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
      EVP_DigestVerify(md, der, static_cast<size_t>(der_length),
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pkey);
  OPENSSL_free(der);
  return ok;
}

TEST(WebPushCrypto, VapidAuthorizationIsAVerifiableEs256Jwt) {
  std::optional<EcKey> key = EcKey::Generate();
  ASSERT_TRUE(key);
  std::optional<std::string> header = VapidAuthorization(
      *key, "https://push.example.net:8443/wpush/v2/abc", "mailto:ops@example.org", 1700000000);
  ASSERT_TRUE(header);
  ASSERT_TRUE(header->starts_with("vapid t="));
  const size_t comma = header->find(", k=");
  ASSERT_NE(comma, std::string::npos);
  EXPECT_EQ(header->substr(comma + 4), Base64UrlEncode(key->PublicRaw()));
  const std::string jwt = header->substr(8, comma - 8);
  const size_t first = jwt.find('.'), second = jwt.rfind('.');
  ASSERT_NE(first, second);
  EXPECT_EQ(Decode(jwt.substr(0, first)), R"({"typ":"JWT","alg":"ES256"})");
  EXPECT_EQ(Decode(jwt.substr(first + 1, second - first - 1)),
            R"({"aud":"https://push.example.net:8443","exp":1700000000,)"
            R"("sub":"mailto:ops@example.org"})");
  const std::string signature = Decode(jwt.substr(second + 1));
  EXPECT_EQ(signature.size(), 64u);
  EXPECT_TRUE(VerifyEs256(*key, jwt.substr(0, second), signature));
  EXPECT_FALSE(VerifyEs256(*key, jwt.substr(0, second) + "x", signature));
  EXPECT_FALSE(VapidAuthorization(*key, "not a url", "mailto:x@y", 1));
}

}  // namespace
}  // namespace ringcast::notify
