// PeerAddresses: who is on the other end of a connection still speaking HTTP (the per-address
// login limit and the access log need it), and the accept mode that choice implies.
//
// Owner: the shard's ConnectionTable, on the shard's thread. A plain descriptor answers
// getpeername. A direct descriptor (the default) has no fd the process could ask, so there are
// two ways, chosen per shard at setup:
//   - IORING_OP_FIXED_FD_INSTALL (Linux 6.8) lends a plain fd for one getpeername, closed at
//     once. Costs nothing until someone logs in, so it is used where the kernel has it.
//   - Elsewhere (Debian 12's 6.1, or --no-fixed-fd-install), the table accepts with
//     kAddressedAccepts single-shot accepts in flight instead of one multishot accept, each with
//     its own sockaddr buffer (a multishot accept would write every connection's address into
//     the same buffer), and the address of each connection that still speaks HTTP is kept here
//     (about 60 bytes with the map node), dropped at the WebSocket upgrade or the close. An idle
//     WebSocket connection, the case the memory budget is about (docs/architecture.md, "Memory
//     per connection"), therefore costs nothing more; only connections in their HTTP phase do.
//     The price is one submission per accepted connection instead of one per many.
#pragma once

#include <liburing.h>
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/net/connection.h"

namespace ringcast {

class Reactor;
class ConnectionTable;
struct RingFeatures;

class PeerAddresses {
 public:
  enum class Source : uint8_t { kGetpeername, kFixedFdInstall, kRecordedAtAccept };
  struct AddressedAccept {  // One single-shot accept that returns the peer's address.
    sockaddr_storage address;
    socklen_t size;
    bool armed;
  };

  // Handles the reactor's kInstallFd completions.
  PeerAddresses(Reactor& reactor, ConnectionTable& table);

  // `listeners`: the sockets accepted from (cleartext, and TLS); with kRecordedAtAccept each has
  // the same number of addressed accepts, the first listener's first.
  void Choose(bool direct_descriptors, bool fixed_fd_install_allowed, const RingFeatures& features,
              bool access_log, uint32_t listeners);
  const char* source_name() const;
  // Accepts that record the peer's address: one entry each while armed; empty otherwise.
  std::vector<AddressedAccept>& addressed_accepts() { return addressed_accepts_; }
  size_t addressed_accepts_count() const { return addressed_accepts_.size(); }
  void Record(const Connection& conn, const AddressedAccept& accept);
  void Forget(const Connection& conn) {
    if (!records_.empty()) records_.erase(conn.slot());
  }
  // Shard::PeerAddress's contract.
  void Lookup(Connection& conn, std::function<void(std::string)> done);
  // The address when it can be had at once (not by FIXED_FD_INSTALL), for the access log.
  std::string Immediate(Connection& conn);

 private:
  struct Kept {  // An address kept from accept until the upgrade or the close.
    uint32_t generation;
    sa_family_t family;
    uint8_t bytes[16];
  };
  struct Query {
    ConnId conn;
    std::function<void(std::string)> done;
  };
  static void OnInstalledFd(void* self, const io_uring_cqe& cqe);

  Reactor& reactor_;
  ConnectionTable& table_;
  Source source_ = Source::kGetpeername;
  std::vector<AddressedAccept> addressed_accepts_;  // Only with kRecordedAtAccept.
  std::unordered_map<uint32_t, Kept> records_;      // By slot; HTTP connections only.
  std::unordered_map<uint64_t, Query> queries_;     // By tag; FIXED_FD_INSTALL in flight.
};

}  // namespace ringcast
