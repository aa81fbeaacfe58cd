// The cryptography of Web Push, with OpenSSL: a P-256 key (the VAPID key, RFC 8292, and the
// ephemeral sender key of each message), the aes128gcm message encryption of RFC 8291 (over the
// content coding of RFC 8188), and the VAPID Authorization header (an ES256 JWT, RFC 8292 §2).
//
// Pure code: no I/O, no threads of its own; every function may be called from any thread (an
// EcKey is immutable once made, and OpenSSL's EVP_PKEY is safe to share for reading).
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ringcast::notify {

// base64url without padding (RFC 4648 §5), as Web Push writes keys and JWTs.
std::string Base64UrlEncode(std::string_view bytes);
// Accepts base64url or standard base64, with or without '=' padding (browsers send either).
std::optional<std::string> Base64UrlDecode(std::string_view text);

// A P-256 key pair (or a public key alone). Move-only; null keys are never handed out.
class EcKey {
 public:
  static std::optional<EcKey> Generate();
  // PKCS#8 PEM, as PrivatePem() writes it (the data dir's file, the database's setting).
  static std::optional<EcKey> FromPrivatePem(std::string_view pem);
  // The 32-byte private scalar (RFC 8291's example keys; tests).
  static std::optional<EcKey> FromPrivateRaw(std::string_view scalar);
  // An uncompressed point, 65 bytes starting 0x04 (a subscription's p256dh).
  static std::optional<EcKey> FromPublicRaw(std::string_view point);

  std::string PrivatePem() const;
  // The uncompressed point (65 bytes): VAPID's k=, RFC 8291's as_public and keyid.
  std::string PublicRaw() const;
  // ES256 over `data`: SHA-256 then ECDSA, in JOSE's form (RFC 7518 §3.4): r and s, 32 bytes
  // each, not DER. nullopt for a public-only key or an OpenSSL failure.
  std::optional<std::string> SignEs256(std::string_view data) const;
  // The ECDH shared secret with `peer` (32 bytes).
  std::optional<std::string> Agree(const EcKey& peer) const;

 private:
  struct Free {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
  };
  explicit EcKey(EVP_PKEY* key) : key_(key) {}
  std::unique_ptr<EVP_PKEY, Free> key_;
};

inline constexpr size_t kPushPublicKeyBytes = 65;  // p256dh: an uncompressed P-256 point.
inline constexpr size_t kPushAuthBytes = 16;       // auth: RFC 8291 §3.2.
inline constexpr size_t kPushSaltBytes = 16;       // RFC 8188 §2.1.
// The largest plaintext one record carries: the 4096-byte record less the 16-byte tag and the
// 1-byte delimiter (RFC 8291 §4 bounds a push message to 4096 bytes of ciphertext with header;
// 3993 is what that leaves with a 65-byte keyid, less the delimiter and tag).
inline constexpr size_t kPushMaxPlaintext = 3993;

// RFC 8291 §3.4 and §4: `plaintext` encrypted for the user agent whose key is `ua_public` (65
// bytes) and auth secret `auth_secret` (16 bytes), with the sender key `as_key` and `salt`
// (16 bytes): the whole request body, the RFC 8188 header (salt, rs = 4096, keyid = as_public)
// and one record (the plaintext, the 0x02 last-record delimiter, no padding, the GCM tag).
// nullopt for a bad key or a plaintext over kPushMaxPlaintext.
std::optional<std::string> EncryptPushMessage(std::string_view plaintext,
                                              std::string_view ua_public,
                                              std::string_view auth_secret, const EcKey& as_key,
                                              std::string_view salt);
// The same with a fresh sender key and salt, as every real message must have (RFC 8291 §3.1).
std::optional<std::string> EncryptPushMessage(std::string_view plaintext,
                                              std::string_view ua_public,
                                              std::string_view auth_secret);

// "https://push.example.net" for "https://push.example.net/send/abc": the scheme, host and
// port of an http(s) URL (the port only when given), which VAPID's aud names. nullopt for
// anything else.
std::optional<std::string> UrlOrigin(std::string_view url);

// RFC 8292 §3: the Authorization header's value, "vapid t=<JWT>, k=<public key>", for a
// message to `endpoint`: a JWT {"typ":"JWT","alg":"ES256"} with claims aud = the endpoint's
// origin, exp = `expires_at_s` (seconds since the epoch; at most 24 h ahead, §2), sub =
// `subject` (a mailto: or https: contact for the push service's operator).
std::optional<std::string> VapidAuthorization(const EcKey& key, std::string_view endpoint,
                                              std::string_view subject, int64_t expires_at_s);

}  // namespace ringcast::notify
