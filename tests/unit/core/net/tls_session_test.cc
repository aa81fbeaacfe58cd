// TlsSession in both roles, a server's (from TlsContext, on certificate files) and a client's,
// with the bytes carried between them by hand: the handshake, data across record boundaries,
// short sends, close_notify, cleartext HTTP and garbage sent to the server.
#include "core/net/tls_session.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/net/tls_context.h"

namespace ringcast {
namespace {

// A self-signed P-256 certificate and its key, written to `dir`.
void WriteSelfSigned(const std::filesystem::path& dir, const char* common_name) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  FILE* out = fopen((dir / "cert.pem").c_str(), "w");
  PEM_write_X509(out, cert);
  fclose(out);
  out = fopen((dir / "key.pem").c_str(), "w");
  PEM_write_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(out);
  X509_free(cert);
  EVP_PKEY_free(key);
}

class TlsSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("tls_session_test." + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    WriteSelfSigned(dir_, "ringcast test");
    std::string error;
    context_ = TlsContext::Load((dir_ / "cert.pem").string(), (dir_ / "key.pem").string(), &error);
    ASSERT_NE(context_, nullptr) << error;
    client_context_ = SSL_CTX_new(TLS_client_method());
    server_ = std::make_unique<TlsSession>(context_->NewSession(), TlsSession::Role::kServer);
    client_ = std::make_unique<TlsSession>(SSL_new(client_context_), TlsSession::Role::kClient);
  }
  void TearDown() override {
    server_.reset();
    client_.reset();
    SSL_CTX_free(client_context_);
    std::filesystem::remove_all(dir_);
  }

  // Everything `from` has to send, fed to `to` in pieces of at most `piece` bytes (a send the
  // kernel took in part, a receive of part of a record); the plaintext `to` read.
  static std::string Carry(TlsSession& from, TlsSession& to, size_t piece = 1 << 20) {
    std::string plaintext;
    std::vector<uint8_t> scratch(16 * 1024);
    while (from.has_output()) {
      std::span<const uint8_t> records = from.BeginSend();
      const size_t n = std::min(piece, records.size());
      std::vector<uint8_t> chunk(records.begin(), records.begin() + n);
      from.Sent(n);
      to.Feed(chunk);
      for (;;) {
        size_t read = 0;
        const TlsSession::Result result = to.Read(scratch, &read);
        if (result != TlsSession::Result::kData) break;
        plaintext.append(reinterpret_cast<const char*>(scratch.data()), read);
      }
      to.EndFeed();
    }
    return plaintext;
  }

  void Handshake() {
    size_t read = 0;
    EXPECT_EQ(client_->Read({}, &read), TlsSession::Result::kNeedInput);  // The ClientHello.
    for (int flight = 0; flight < 4 && !(client_->established() && server_->established());
         ++flight) {
      Carry(*client_, *server_);
      Carry(*server_, *client_);
    }
    ASSERT_TRUE(server_->established());
    ASSERT_TRUE(client_->established());
  }

  std::filesystem::path dir_;
  std::unique_ptr<TlsContext> context_;
  SSL_CTX* client_context_ = nullptr;
  std::unique_ptr<TlsSession> server_;
  std::unique_ptr<TlsSession> client_;
};

TEST_F(TlsSessionTest, CarriesDataBothWaysInPiecesOfAnySize) {
  Handshake();
  EXPECT_STREQ(server_->version(), "TLSv1.3");
  std::string big(100'000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = char(i * 7);
  server_->Encrypt({reinterpret_cast<const uint8_t*>(big.data()), big.size()});
  EXPECT_EQ(Carry(*server_, *client_, 1000), big);  // Records cut anywhere on the way.
  const std::string request = "GET / HTTP/1.1\r\n\r\n";
  client_->Encrypt({reinterpret_cast<const uint8_t*>(request.data()), request.size()});
  EXPECT_EQ(Carry(*client_, *server_, 1), request);  // One byte at a time.
  EXPECT_FALSE(server_->has_output());
}

TEST_F(TlsSessionTest, OutputWrittenDuringASendGoesAfterIt) {
  Handshake();
  const std::string first(5000, 'a');
  const std::string second(3000, 'b');
  server_->Encrypt({reinterpret_cast<const uint8_t*>(first.data()), first.size()});
  std::span<const uint8_t> in_flight = server_->BeginSend();
  const std::vector<uint8_t> copy(in_flight.begin(), in_flight.end());
  // Written while the kernel holds the first records: they must not move or change.
  server_->Encrypt({reinterpret_cast<const uint8_t*>(second.data()), second.size()});
  EXPECT_EQ(std::vector<uint8_t>(in_flight.begin(), in_flight.end()), copy);
  server_->Sent(100);  // A short send: the rest of the same buffer comes next.
  EXPECT_EQ(server_->BeginSend().data(), in_flight.data() + 100);
  // The client gets those 100 bytes; the carry below brings the rest, then what came after.
  client_->Feed({copy.data(), 100});
  std::vector<uint8_t> scratch(16 * 1024);
  size_t read = 0;
  EXPECT_EQ(client_->Read(scratch, &read), TlsSession::Result::kNeedInput);
  client_->EndFeed();
  EXPECT_EQ(Carry(*server_, *client_), first + second);
}

TEST_F(TlsSessionTest, CloseNotifyEndsTheStream) {
  Handshake();
  server_->CloseNotify();
  server_->CloseNotify();  // Once only.
  std::span<const uint8_t> records = server_->BeginSend();
  ASSERT_FALSE(records.empty());
  const std::vector<uint8_t> alert(records.begin(), records.end());
  server_->Sent(alert.size());
  EXPECT_FALSE(server_->has_output());
  client_->Feed(alert);
  std::vector<uint8_t> scratch(1024);
  size_t read = 0;
  EXPECT_EQ(client_->Read(scratch, &read), TlsSession::Result::kClosed);
  client_->EndFeed();
}

TEST_F(TlsSessionTest, CleartextHttpIsRecognised) {
  const std::string request = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  server_->Feed({reinterpret_cast<const uint8_t*>(request.data()), request.size()});
  std::vector<uint8_t> scratch(1024);
  size_t read = 0;
  EXPECT_EQ(server_->Read(scratch, &read), TlsSession::Result::kFailed);
  server_->EndFeed();
  EXPECT_TRUE(server_->failed());
  EXPECT_TRUE(server_->plain_http());
  EXPECT_FALSE(server_->established());
  EXPECT_EQ(server_->Read(scratch, &read), TlsSession::Result::kFailed);  // And stays failed.
}

TEST_F(TlsSessionTest, GarbageFailsTheHandshakeWithAnAlert) {
  const uint8_t garbage[] = {0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  server_->Feed(garbage);
  std::vector<uint8_t> scratch(1024);
  size_t read = 0;
  EXPECT_EQ(server_->Read(scratch, &read), TlsSession::Result::kFailed);
  server_->EndFeed();
  EXPECT_FALSE(server_->plain_http());
  EXPECT_FALSE(server_->failure().empty());
  ASSERT_TRUE(server_->has_output());
  EXPECT_EQ(server_->BeginSend()[0], 0x15);  // An alert record.
}

}  // namespace
}  // namespace ringcast
