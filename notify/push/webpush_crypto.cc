#include "notify/push/webpush_crypto.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "proto/json_writer.h"

namespace ringcast::notify {
namespace {

constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr uint32_t kRecordSize = 4096;  // RFC 8291 §4: rs is 4096, one record.
constexpr size_t kGcmTagBytes = 16;

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-' || c == '+') return 62;
  if (c == '_' || c == '/') return 63;
  return -1;
}

struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
struct CtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};

// Builds an EVP_PKEY of P-256 from OSSL params (a public point, and the private scalar if any).
EVP_PKEY* KeyFromParams(const OSSL_PARAM* params, int selection) {
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &key, selection, const_cast<OSSL_PARAM*>(params)) <= 0) {
    return nullptr;
  }
  return key;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[32];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &length);
  return std::string(reinterpret_cast<char*>(out), length);
}

// HKDF-SHA256 (RFC 5869) for outputs of at most one hash (all Web Push needs): extract, then
// one expand block T(1) = HMAC(PRK, info || 0x01), cut to `length`.
std::string Hkdf(std::string_view salt, std::string_view ikm, std::string_view info,
                 size_t length) {
  std::string prk = HmacSha256(salt, ikm);
  std::string block(info);
  block.push_back('\x01');
  return HmacSha256(prk, block).substr(0, length);
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 |
                 uint8_t(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kBase64Url[(n >> shift) & 63]);
  }
  const size_t left = bytes.size() - i;
  if (left > 0) {
    uint32_t n = uint32_t(uint8_t(bytes[i])) << 16;
    if (left == 2) n |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out.push_back(kBase64Url[(n >> 18) & 63]);
    out.push_back(kBase64Url[(n >> 12) & 63]);
    if (left == 2) out.push_back(kBase64Url[(n >> 6) & 63]);
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    const int value = Base64Value(c);
    if (value < 0) return std::nullopt;
    bits = bits << 6 | uint32_t(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  return out;
}

std::optional<EcKey> EcKey::Generate() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) return std::nullopt;
  return EcKey(key);
}

std::optional<EcKey> EcKey::FromPrivatePem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return std::nullopt;
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return std::nullopt;
  if (EVP_PKEY_is_a(key, "EC") != 1 || EVP_PKEY_get_bits(key) != 256) {
    EVP_PKEY_free(key);
    return std::nullopt;
  }
  return EcKey(key);
}

std::optional<EcKey> EcKey::FromPrivateRaw(std::string_view scalar) {
  if (scalar.size() != 32) return std::nullopt;
  std::unique_ptr<BIGNUM, BnFree> d(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(scalar.data()), 32, nullptr));
  // OpenSSL wants the public point too: d·G, computed with the (non-deprecated) EC_POINT API.
  EC_GROUP* group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  EC_POINT* point = group ? EC_POINT_new(group) : nullptr;
  unsigned char pub[kPushPublicKeyBytes];
  bool ok = d && point && EC_POINT_mul(group, point, d.get(), nullptr, nullptr, nullptr) == 1 &&
            EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof(pub),
                               nullptr) == sizeof(pub);
  EC_POINT_free(point);
  EC_GROUP_free(group);
  if (!ok) return std::nullopt;
  OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  if (build &&
      OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
      OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_PRIV_KEY, d.get()) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(build, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)) == 1) {
    params = OSSL_PARAM_BLD_to_param(build);
  }
  OSSL_PARAM_BLD_free(build);
  if (params == nullptr) return std::nullopt;
  EVP_PKEY* key = KeyFromParams(params, EVP_PKEY_KEYPAIR);
  OSSL_PARAM_free(params);
  if (key == nullptr) return std::nullopt;
  return EcKey(key);
}

std::optional<EcKey> EcKey::FromPublicRaw(std::string_view point) {
  if (point.size() != kPushPublicKeyBytes || point[0] != 0x04) return std::nullopt;
  char group[] = "prime256v1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<char*>(point.data()),
                                        point.size()),
      OSSL_PARAM_construct_end()};
  // fromdata checks that the point is on the curve (an invalid-curve point would leak the key).
  EVP_PKEY* key = KeyFromParams(params, EVP_PKEY_PUBLIC_KEY);
  if (key == nullptr) return std::nullopt;
  return EcKey(key);
}

std::string EcKey::PrivatePem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  std::string pem;
  if (bio && PEM_write_bio_PrivateKey(bio, key_.get(), nullptr, nullptr, 0, nullptr, nullptr)) {
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    pem.assign(data, static_cast<size_t>(length));
  }
  BIO_free(bio);
  return pem;
}

std::string EcKey::PublicRaw() const {
  unsigned char out[kPushPublicKeyBytes];
  size_t length = 0;
  if (EVP_PKEY_get_octet_string_param(key_.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out,
                                      sizeof(out), &length) != 1) {
    return {};
  }
  return std::string(reinterpret_cast<char*>(out), length);
}

std::optional<std::string> EcKey::SignEs256(std::string_view data) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  size_t der_length = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &der_length,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return std::nullopt;
  }
  std::string der(der_length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &der_length,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return std::nullopt;
  }
  // OpenSSL signs in DER (SEQUENCE of two INTEGERs); JOSE wants r || s, each 32 bytes.
  const unsigned char* cursor = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der_length));
  if (sig == nullptr) return std::nullopt;
  std::string raw(64, '\0');
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  bool ok = BN_bn2binpad(r, reinterpret_cast<unsigned char*>(raw.data()), 32) == 32 &&
            BN_bn2binpad(s, reinterpret_cast<unsigned char*>(raw.data()) + 32, 32) == 32;
  ECDSA_SIG_free(sig);
  if (!ok) return std::nullopt;
  return raw;
}

std::optional<std::string> EcKey::Agree(const EcKey& peer) const {
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new(key_.get(), nullptr));
  size_t length = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer.key_.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &length) != 1) {
    return std::nullopt;
  }
  std::string secret(length, '\0');
  if (EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(secret.data()), &length) != 1) {
    return std::nullopt;
  }
  secret.resize(length);
  return secret;
}

std::optional<std::string> EncryptPushMessage(std::string_view plaintext,
                                              std::string_view ua_public,
                                              std::string_view auth_secret, const EcKey& as_key,
                                              std::string_view salt) {
  if (plaintext.size() > kPushMaxPlaintext || auth_secret.size() != kPushAuthBytes ||
      salt.size() != kPushSaltBytes) {
    return std::nullopt;
  }
  std::optional<EcKey> ua_key = EcKey::FromPublicRaw(ua_public);
  if (!ua_key) return std::nullopt;
  std::optional<std::string> ecdh_secret = as_key.Agree(*ua_key);
  const std::string as_public = as_key.PublicRaw();
  if (!ecdh_secret || as_public.size() != kPushPublicKeyBytes) return std::nullopt;

  // RFC 8291 §3.4: IKM from the shared secret, keyed by the auth secret and bound to both
  // public keys; then RFC 8188 §2.2-2.3: the content key and nonce from the salt.
  std::string key_info = "WebPush: info";
  key_info.push_back('\0');
  key_info.append(ua_public).append(as_public);
  const std::string ikm = Hkdf(auth_secret, *ecdh_secret, key_info, 32);
  std::string cek_info = "Content-Encoding: aes128gcm";
  cek_info.push_back('\0');
  std::string nonce_info = "Content-Encoding: nonce";
  nonce_info.push_back('\0');
  const std::string cek = Hkdf(salt, ikm, cek_info, 16);
  const std::string nonce = Hkdf(salt, ikm, nonce_info, 12);  // Record 0: the nonce as is.

  // The header: salt, rs (uint32, big-endian), idlen, keyid (RFC 8188 §2.1).
  std::string out(salt);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(char((kRecordSize >> shift) & 0xFF));
  out.push_back(static_cast<char>(kPushPublicKeyBytes));
  out.append(as_public);

  std::string padded(plaintext);
  padded.push_back('\x02');  // The last (and only) record's delimiter, no padding after.
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  const size_t header = out.size();
  out.resize(header + padded.size() + kGcmTagBytes);
  auto* cipher = reinterpret_cast<unsigned char*>(out.data() + header);
  int written = 0, final_written = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(cek.data()),
                         reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), cipher, &written,
                        reinterpret_cast<const unsigned char*>(padded.data()),
                        static_cast<int>(padded.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), cipher + written, &final_written) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kGcmTagBytes,
                          cipher + written + final_written) != 1) {
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> EncryptPushMessage(std::string_view plaintext,
                                              std::string_view ua_public,
                                              std::string_view auth_secret) {
  std::optional<EcKey> as_key = EcKey::Generate();
  unsigned char salt[kPushSaltBytes];
  if (!as_key || RAND_bytes(salt, sizeof(salt)) != 1) return std::nullopt;
  return EncryptPushMessage(plaintext, ua_public, auth_secret, *as_key,
                            std::string_view(reinterpret_cast<char*>(salt), sizeof(salt)));
}

std::optional<std::string> UrlOrigin(std::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  const std::string_view scheme = url.substr(0, scheme_end);
  if (scheme != "https" && scheme != "http") return std::nullopt;
  const size_t authority = scheme_end + 3;
  const size_t end = url.find_first_of("/?#", authority);
  const std::string_view host_port = url.substr(authority, end - authority);
  if (host_port.empty() || host_port.find('@') != std::string_view::npos) return std::nullopt;
  return std::string(url.substr(0, authority)).append(host_port);
}

std::optional<std::string> VapidAuthorization(const EcKey& key, std::string_view endpoint,
                                              std::string_view subject, int64_t expires_at_s) {
  std::optional<std::string> origin = UrlOrigin(endpoint);
  if (!origin) return std::nullopt;
  JsonWriter claims;
  claims.BeginObject()
      .Field("aud", *origin)
      .Field("exp", expires_at_s)
      .Field("sub", subject)
      .EndObject();
  std::string signing_input = Base64UrlEncode(R"({"typ":"JWT","alg":"ES256"})");
  signing_input.push_back('.');
  signing_input.append(Base64UrlEncode(claims.str()));
  std::optional<std::string> signature = key.SignEs256(signing_input);
  if (!signature) return std::nullopt;
  std::string header = "vapid t=";
  header.append(signing_input).append(".").append(Base64UrlEncode(*signature));
  header.append(", k=").append(Base64UrlEncode(key.PublicRaw()));
  return header;
}

}  // namespace ringcast::notify
