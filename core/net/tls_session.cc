#include "core/net/tls_session.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "core/log.h"

namespace ringcast {

// The BIO under every session: reads come from the fed span, writes go to the pending output.
struct TlsBio {
  static BIO_METHOD* Method() {
    static BIO_METHOD* method = [] {
      BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ringcast");
      BIO_meth_set_read(
          made, [](BIO* bio, char* out, int size) { return TlsSession::BioRead(bio, out, size); });
      BIO_meth_set_write(made, [](BIO* bio, const char* in, int size) {
        return TlsSession::BioWrite(bio, in, size);
      });
      // FLUSH must succeed (OpenSSL flushes after each handshake flight); nothing else is
      // supported, kTLS queries included (answered 0: not available on this BIO).
      BIO_meth_set_ctrl(made, [](BIO*, int command, long, void*) -> long {
        return command == BIO_CTRL_FLUSH ? 1 : 0;
      });
      BIO_meth_set_create(made, [](BIO* bio) {
        BIO_set_init(bio, 1);
        return 1;
      });
      return made;
    }();
    return method;
  }
};

int TlsSession::BioRead(void* raw, char* out, int size) {
  BIO* bio = static_cast<BIO*>(raw);
  auto& self = *static_cast<TlsSession*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (self.input_.empty()) {
    BIO_set_retry_read(bio);
    return -1;
  }
  const size_t n = std::min(self.input_.size(), size_t(size));
  std::memcpy(out, self.input_.data(), n);
  self.input_ = self.input_.subspan(n);
  return int(n);
}

int TlsSession::BioWrite(void* raw, const char* in, int size) {
  BIO* bio = static_cast<BIO*>(raw);
  auto& self = *static_cast<TlsSession*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  self.pending_.insert(self.pending_.end(), in, in + size);
  return size;
}

TlsSession::TlsSession(SSL* ssl, Role role) : ssl_(ssl) {
  BIO* bio = BIO_new(TlsBio::Method());
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // One BIO both ways: SSL_set_bio takes one reference for each.
  BIO_up_ref(bio);
  BIO_free(bio);
  role == Role::kServer ? SSL_set_accept_state(ssl_) : SSL_set_connect_state(ssl_);
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

const char* TlsSession::version() const { return SSL_get_version(ssl_); }

TlsSession::Result TlsSession::Read(std::span<uint8_t> out, size_t* read) {
  *read = 0;
  if (failed_) return Result::kFailed;
  ERR_clear_error();
  const int rc = SSL_read_ex(ssl_, out.data(), out.size(), read);
  if (!established_ && SSL_is_init_finished(ssl_)) established_ = true;
  if (rc == 1) return Result::kData;
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:  // Writes always succeed here; kept for completeness.
      return Result::kNeedInput;
    case SSL_ERROR_ZERO_RETURN:
      return Result::kClosed;
    default:
      Fail();
      return Result::kFailed;
  }
}

void TlsSession::Fail() {
  failed_ = true;
  const unsigned long code = ERR_peek_error();
  plain_http_ =
      ERR_GET_LIB(code) == ERR_LIB_SSL && (ERR_GET_REASON(code) == SSL_R_HTTP_REQUEST ||
                                           ERR_GET_REASON(code) == SSL_R_HTTPS_PROXY_REQUEST);
  const char* reason = code == 0 ? nullptr : ERR_reason_error_string(code);
  failure_ = reason != nullptr ? reason : "connection error";
  ERR_clear_error();
}

void TlsSession::Encrypt(std::span<const uint8_t> plaintext) {
  size_t written = 0;
  ERR_clear_error();
  // Room for the records at once (each adds at most a 5-byte header, a type byte and a 16-byte
  // tag to up to 16 KiB), rather than growing the buffer record by record.
  const size_t needed = pending_.size() + plaintext.size() + (plaintext.size() / 16384 + 1) * 32;
  if (needed > pending_.capacity()) pending_.reserve(std::max(needed, 2 * pending_.capacity()));
  // The BIO takes every record whole, so SSL_write_ex writes all of it or fails for good.
  if (!plaintext.empty() && SSL_write_ex(ssl_, plaintext.data(), plaintext.size(), &written) != 1) {
    Fail();
  }
}

void TlsSession::AppendRaw(std::string_view bytes) {
  pending_.insert(pending_.end(), bytes.begin(), bytes.end());
}

void TlsSession::CloseNotify() {
  if (close_notify_queued_ || failed_ || !established_) return;
  close_notify_queued_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // Writes the alert; the peer's answer is not waited for.
  ERR_clear_error();
}

std::span<const uint8_t> TlsSession::BeginSend() {
  if (sent_ == sending_.size()) {
    // Buffers that grew past a few records are given back: an idle connection keeps none.
    constexpr size_t kKeptCapacity = 32 * 1024;
    sending_.clear();
    if (sending_.capacity() > kKeptCapacity) sending_.shrink_to_fit();
    sending_.swap(pending_);
    sent_ = 0;
  }
  return {sending_.data() + sent_, sending_.size() - sent_};
}

void TlsSession::Sent(size_t bytes) {
  sent_ += bytes;
  if (sent_ == sending_.size() && pending_.empty() && sending_.capacity() > 0) {
    // Idle after this send: nothing is kept at all.
    std::vector<uint8_t>().swap(sending_);
    std::vector<uint8_t>().swap(pending_);
    sent_ = 0;
  }
}

}  // namespace ringcast
