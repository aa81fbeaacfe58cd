// TlsSession: TLS on one connection, in user space (OpenSSL), between the ring's receives and
// sends (docs/architecture.md, "TLS"). The server's connections use it, and so does the load
// tool's client side (tools/bench/worker.h).
//
// Owner: the connection's shard. The ring still does every socket operation: a receive hands
// its ciphertext to Feed and Read, which decrypt it into a scratch buffer for the protocol
// drivers; a send takes the plaintext queued on the connection (its SendQueue, where fan-out
// frames are still shared), encrypts it here (Encrypt), and sends the records (BeginSend,
// Sent). OpenSSL talks to neither the socket nor a memory BIO: its BIO reads the receive buffer
// in place and appends records straight to the output, so no byte is copied on their way in or
// out but by the cipher itself.
//
// The output is two buffers: the records a send in flight is writing (`sending_`, which must
// not move under the kernel) and those written since (`pending_`: handshake answers, alerts and
// the next plaintext); BeginSend swaps them when the send is done.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

using SSL = struct ssl_st;

namespace ringcast {

class TlsSession {
 public:
  enum class Result : uint8_t {
    kNeedInput,  // Everything fed has been read; more ciphertext is needed.
    kData,       // Plaintext was read (Read's `*read`); call again.
    kClosed,     // The peer sent close_notify.
    kFailed,     // A handshake or record error (failure(), plain_http()); the alert is queued.
  };

  // The server's end (an accepted connection) or the client's (ringcast-bench's wss://).
  enum class Role : uint8_t { kServer, kClient };
  // Takes `ssl` over (TlsContext::NewSession for a server). A client's handshake starts with
  // the first Read, fed nothing.
  TlsSession(SSL* ssl, Role role);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Ciphertext from one receive; valid until EndFeed. Read consumes it; what is left of an
  // incomplete record OpenSSL keeps in its own buffer.
  void Feed(std::span<const uint8_t> ciphertext) { input_ = ciphertext; }
  void EndFeed() { input_ = {}; }
  // Advances the handshake and decrypts at most `out.size()` bytes into `out`.
  Result Read(std::span<uint8_t> out, size_t* read);

  bool established() const { return established_; }
  bool failed() const { return failed_; }
  // The client spoke cleartext HTTP to the TLS port (answered in cleartext, then closed).
  bool plain_http() const { return plain_http_; }
  std::string_view failure() const { return failure_; }
  // "TLSv1.3" etc., once established.
  const char* version() const;

  // Encrypts `plaintext` into records appended to the output. Only once established.
  void Encrypt(std::span<const uint8_t> plaintext);
  // Appends bytes to the output unencrypted: the cleartext answer to plain HTTP.
  void AppendRaw(std::string_view bytes);
  // Queues close_notify once (nothing after a failure: the alert is already queued).
  void CloseNotify();

  // Records not yet handed to the kernel, or still being written by it.
  bool has_output() const { return sent_ < sending_.size() || !pending_.empty(); }
  // The bytes the next send writes: the rest of the current send buffer, else what has been
  // written since (now the current one). Empty when there is nothing.
  std::span<const uint8_t> BeginSend();
  // The send wrote `bytes` of what BeginSend gave.
  void Sent(size_t bytes);

 private:
  static int BioRead(void* bio, char* out, int size);
  static int BioWrite(void* bio, const char* in, int size);
  void Fail();

  SSL* ssl_;
  std::span<const uint8_t> input_;
  std::vector<uint8_t> sending_;
  size_t sent_ = 0;  // Of sending_.
  std::vector<uint8_t> pending_;
  std::string_view failure_;  // Static text (OpenSSL's reason strings are).
  bool established_ = false;
  bool failed_ = false;
  bool plain_http_ = false;
  bool close_notify_queued_ = false;

  friend struct TlsBio;
};

}  // namespace ringcast
