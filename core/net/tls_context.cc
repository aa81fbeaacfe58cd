#include "core/net/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>
#include <utility>

namespace ringcast {
namespace {

// The oldest queued OpenSSL error, as words (its queue is per thread), and the queue emptied.
std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

// ALPN (RFC 7301): HTTP/1.1 is what every route speaks, WebSocket upgrades included. A client
// that offers only other protocols (h2 alone) gets no ALPN answer rather than a failed
// handshake: most such clients still speak HTTP/1.1, and the alternative is an outage.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
               unsigned int in_length, void*) {
  static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, kHttp11, sizeof(kHttp11), in, in_length) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

SSL_CTX* Build(const std::string& cert_path, const std::string& key_path, std::string* error) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) {
    *error = OpenSslError();
    return nullptr;
  }
  auto fail = [&](std::string what) {
    *error = std::move(what) + ": " + OpenSslError();
    SSL_CTX_free(ctx);
    return nullptr;
  };
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Renegotiation (TLS 1.2) is refused: it costs the server a handshake per request of the
  // client's and has carried attacks (CVE-2009-3555, CVE-2011-1473); nothing here needs it.
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // OpenSSL's read and write buffers (about 34 KiB) are freed while a connection is idle: an idle
  // TLS connection must not cost a hundred times an idle cleartext one.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Resumption by tickets only (stateless): a session cache would be one more table shared by
  // every shard.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_alpn_select_cb(ctx, SelectAlpn, nullptr);
  // TLS 1.3: AES-128-GCM first (the cheapest on CPUs with AES-NI, as strong as needed), then
  // AES-256-GCM and ChaCha20 for clients that prefer them.
  SSL_CTX_set_ciphersuites(
      ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_path.c_str()) != 1) {
    return fail("--tls-cert " + cert_path);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail("--tls-key " + key_path);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return fail("--tls-key " + key_path + " does not match --tls-cert " + cert_path);
  }
  return ctx;
}

}  // namespace

TlsContext::TlsContext(std::string cert_path, std::string key_path, SSL_CTX* ctx)
    : cert_path_(std::move(cert_path)), key_path_(std::move(key_path)), ctx_(ctx) {}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::unique_ptr<TlsContext> TlsContext::Load(const std::string& cert_path,
                                             const std::string& key_path, std::string* error) {
  SSL_CTX* ctx = Build(cert_path, key_path, error);
  if (ctx == nullptr) return nullptr;
  return std::unique_ptr<TlsContext>(new TlsContext(cert_path, key_path, ctx));
}

bool TlsContext::Reload(std::string* error) {
  SSL_CTX* fresh = Build(cert_path_, key_path_, error);
  if (fresh == nullptr) return false;
  SSL_CTX* old;
  {
    std::lock_guard lock(mutex_);
    old = std::exchange(ctx_, fresh);
  }
  SSL_CTX_free(old);  // Freed once the last connection made from it has gone.
  return true;
}

SSL* TlsContext::NewSession() {
  std::lock_guard lock(mutex_);
  return SSL_new(ctx_);
}

std::string TlsContext::Describe() {
  std::lock_guard lock(mutex_);
  X509* cert = SSL_CTX_get0_certificate(ctx_);
  if (cert == nullptr) return "no certificate";
  char subject[256];
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
  std::string text = subject;
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio != nullptr && ASN1_TIME_print(bio, X509_get0_notAfter(cert)) == 1) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    text += ", valid until ";
    text.append(data, size_t(size));
  }
  BIO_free(bio);
  return text;
}

}  // namespace ringcast
