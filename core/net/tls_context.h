// TlsContext: the server's certificate and key (--tls-cert, --tls-key) and the TLS settings
// every TLS connection starts from (TLS 1.2 and 1.3, ALPN http/1.1, no renegotiation).
//
// Owner: the process (made in main, shared by every shard). The files are read on the main
// thread, at start and on SIGHUP (Reload), never on a shard. A shard takes the current context
// only when it accepts a TLS connection (NewSession), under a mutex held for one SSL_new: a
// reload swaps the pointer, and connections already open keep the context they started with
// (OpenSSL counts its references), so a certificate renewal drops no connection.
#pragma once

#include <memory>
#include <mutex>
#include <string>

using SSL = struct ssl_st;
using SSL_CTX = struct ssl_ctx_st;

namespace ringcast {

class TlsContext {
 public:
  // Reads the certificate chain (PEM: the leaf first, then its intermediates) and its private
  // key. Null with the reason in `error` when either is missing, unreadable or they do not match.
  static std::unique_ptr<TlsContext> Load(const std::string& cert_path, const std::string& key_path,
                                          std::string* error);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Reads both files again. On failure the current pair stays in use and `error` says why.
  bool Reload(std::string* error);
  // A server-side session on the current certificate, for one accepted connection; any thread.
  SSL* NewSession();
  // The certificate's subject and expiry, for the log.
  std::string Describe();

 private:
  TlsContext(std::string cert_path, std::string key_path, SSL_CTX* ctx);

  const std::string cert_path_;
  const std::string key_path_;
  std::mutex mutex_;
  SSL_CTX* ctx_;  // Guarded by mutex_; one reference held.
};

}  // namespace ringcast
