// ConnectionTable: a shard's connections — slots and generations, accept, receive, send, the
// per-connection timers and close — and the hand-off of received bytes to the protocol drivers
// (http_driver.h while a connection speaks HTTP, ws_driver.h once it has upgraded).
//
// Owner: the shard's thread. Connections are named across time by ConnId {shard, slot,
// generation}: a completion or a mail that arrives after the connection closed carries a stale
// generation and is dropped. A slot is freed only once none of its operations is in flight
// (Release, from the reactor's loop), so a completion always finds its connection.
//
// The drivers are concrete classes called directly, not through an interface: a receive goes
// to its driver with no indirect call, as the WebSocket echo path is the hot one.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/config.h"
#include "core/metrics/shard_stats.h"
#include "core/net/address_admission.h"
#include "core/net/connection.h"
#include "core/net/peer_addresses.h"
#include "core/net/tls_session.h"
#include "core/runtime/reactor.h"

namespace ringcast {

class AccessLog;
class HttpDriver;
class TlsContext;
class WsDriver;

class ConnectionTable {
 public:
  // Registers the reactor's handlers for kAccept, kRecv, kSend and kShutdownWrite.
  ConnectionTable(Reactor& reactor, const Config& config, ShardStats& stats);
  ~ConnectionTable();
  ConnectionTable(const ConnectionTable&) = delete;
  ConnectionTable& operator=(const ConnectionTable&) = delete;

  void SetDrivers(HttpDriver* http, WsDriver* ws) {
    http_ = http;
    ws_ = ws;
  }
  void SetAccessLog(AccessLog* log) { access_log_ = log; }
  // With a context (--tls-cert), Setup listens on --tls-port too.
  void SetTls(TlsContext* tls) { tls_context_ = tls; }
  // The fixed file table, the peer-address source, the listeners and their first accepts.
  // Returns 0 or -errno with a message already logged.
  int Setup();

  Connection* Find(ConnId id);
  size_t live() const { return live_; }
  PeerAddresses& peers() { return peers_; }
  const PeerAddresses& peers() const { return peers_; }
  AddressAdmission& admission() { return admission_; }
  template <typename F>
  void ForEach(F&& f) {
    for (Connection* conn : slots_) {
      if (conn != nullptr) f(*conn);
    }
  }

  // --- The loop (Reactor::Owner, through the shard) ------------------------------------------
  // Starts sends for connections with queued bytes and nothing in flight, re-arms ended
  // receives, and shuts the write side of connections whose last bytes are out.
  void Flush();
  void Release();  // Frees connections closed with no operation left in flight.
  void OnTimer(TimerEntry* entry);
  void OnTick();  // Retries a failed accept.
  // Stop accepting: cancel the accepts in flight, close the listener.
  void StopAccepting();

  // --- For Connection and the drivers --------------------------------------------------------
  void MarkForFlush(Connection& conn);
  void RearmRecv(Connection& conn);  // At the next flush, unless the body is paused.
  void CancelRecv(Connection& conn);
  // Asks the kernel to give up the connection's send in flight (its completion still comes,
  // with what it sent, or -ECANCELED having sent nothing of it).
  void CancelSend(Connection& conn);
  // Close once queued bytes are out: FIN, then read to the peer's EOF (RFC 6455 §7.1.1).
  void FinishAfterFlush(Connection& conn);
  void Abort(Connection& conn);  // Close the socket now.
  void ScheduleTimer(Connection& conn, uint64_t deadline);

  // --- For AddressAdmission: the end of a new connection's admission ------------------------
  // Within --max-conns-per-ip: its TLS session (on the TLS listener), then its first receive.
  void Admitted(Connection& conn);
  // Past it: 429 and close (cleartext), or closed at once (TLS).
  void Refuse(Connection& conn);

 private:
  // msghdr + iovecs for one in-flight sendmsg; pooled, one per sending connection.
  struct SendBatch {
    static constexpr uint32_t kMaxIov = 64;
    msghdr msg;
    iovec iov[kMaxIov];
  };

  static void OnAcceptCqe(void* self, const io_uring_cqe& cqe);
  static void OnConnCqe(void* self, const io_uring_cqe& cqe);
  // An accept's tag names its listener and, with addressed accepts, its entry there.
  static uint32_t AcceptTag(uint32_t listener, uint32_t entry) { return listener << 16 | entry; }
  void OnAccept(uint32_t tag, int32_t result, uint32_t flags);
  void OnRecv(Connection& conn, int32_t result, uint32_t flags);
  // Received bytes to the connection's protocol driver.
  void Deliver(Connection& conn, std::span<uint8_t> data);
  // Received ciphertext: decrypted and delivered record by record (tls_session.h).
  void ReceiveTls(Connection& conn, std::span<const uint8_t> ciphertext);
  void OnTlsFailure(Connection& conn);
  // Encrypts the plaintext queued for a TLS connection, up to one batch, into its records.
  void EncryptQueued(Connection& conn);
  void OnSend(Connection& conn, int32_t result);
  void OnShutdownWrite(Connection& conn, int32_t result);
  // A slot and the request timer; nothing is read before admission_ admits it.
  Connection* Open(int fd);
  // The connection's TLS session (tls_session.h), when it was accepted on --tls-port. Kept here
  // rather than in the Connection, so that a cleartext connection pays nothing for TLS.
  TlsSession* TlsOf(const Connection& conn) const {
    return tls_sessions_.empty() ? nullptr : tls_sessions_[conn.slot()].get();
  }
  uint32_t AcceptsWanted() const;  // Per listener.
  void ArmAccepts(uint32_t listener);
  void ArmAddressedAccept(uint32_t listener, uint32_t entry);
  void ArmRecv(Connection& conn);
  void StartSend(Connection& conn);
  void CloseDescriptor(int fd);
  void Cancel(Op op, const Connection& conn);
  void MaybeRelease(Connection& conn);

  Reactor& reactor_;
  const Config& config_;
  ShardStats& stats_;
  AccessLog* access_log_ = nullptr;
  HttpDriver* http_ = nullptr;
  WsDriver* ws_ = nullptr;
  PeerAddresses peers_;
  AddressAdmission admission_;
  TlsContext* tls_context_ = nullptr;
  struct Listening {
    int fd = -1;
    uint32_t accepts_armed = 0;  // Accept requests in flight (multishot: at most one).
  };
  static constexpr uint32_t kCleartext = 0;
  static constexpr uint32_t kTls = 1;
  Listening listeners_[2];              // kTls's only with --tls-cert.
  std::vector<uint8_t> tls_plaintext_;  // Read's scratch: one record at most.
  // By slot, beside slots_, with --tls-cert only; null for a cleartext connection. A session
  // lives until its slot is released: a send in flight may still be writing its records.
  std::vector<std::unique_ptr<TlsSession>> tls_sessions_;

  std::vector<Connection*> slots_;
  std::vector<uint32_t> generations_;
  std::vector<uint32_t> free_slots_;
  size_t live_ = 0;
  std::vector<Connection*> flush_list_;
  std::vector<Connection*> release_list_;
  std::vector<SendBatch*> batches_;  // Indexed by slot while a sendmsg is in flight.
  std::vector<std::unique_ptr<SendBatch>> spare_batches_;
};

}  // namespace ringcast
