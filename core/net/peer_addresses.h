// PeerAddresses: who is on the other end of each connection, learned at accept, for the count of
// connections per address (address_admission.h), and, while the connection speaks HTTP, for the
// chat's per-address limits (logins, registrations) and the access log.
//
// Owner: the shard's ConnectionTable, on the shard's thread. A plain descriptor answers
// getpeername. A direct descriptor (the default) has no fd the process could ask, so the table
// accepts with kAddressedAccepts single-shot accepts in flight instead of one multishot accept,
// each with its own sockaddr buffer (a multishot accept would write every connection's address
// into the same buffer), and the address of each connection that still speaks HTTP is kept here
// (about 60 bytes with the map node), dropped at the WebSocket upgrade or the close. An idle
// WebSocket connection, the case the memory budget is about (docs/architecture.md, "Memory per
// connection"), therefore costs nothing more here; only connections in their HTTP phase do. The
// price is one submission per accepted connection instead of one per many.
//
// (Linux 6.8's IORING_OP_FIXED_FD_INSTALL, which lends a plain fd for one getpeername, was used
// here while only logins needed an address: it cost nothing until then. Once every connection is
// counted at accept, it would cost an install, a getpeername and a close per connection, more
// than the addressed accept's one submission, and its answer would come a completion later.)
#pragma once

#include <liburing.h>
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/net/client_address.h"
#include "core/net/connection.h"

namespace ringcast {

class PeerAddresses {
 public:
  enum class Source : uint8_t { kGetpeername, kRecordedAtAccept };
  struct AddressedAccept {  // One single-shot accept that returns the peer's address.
    sockaddr_storage address;
    socklen_t size;
    bool armed;
  };

  // `listeners`: the sockets accepted from (cleartext, and TLS); with kRecordedAtAccept each has
  // the same number of addressed accepts, the first listener's first.
  void Choose(bool direct_descriptors, uint32_t listeners);
  const char* source_name() const;
  // Accepts that record the peer's address: one entry each while armed; empty otherwise.
  std::vector<AddressedAccept>& addressed_accepts() { return addressed_accepts_; }
  size_t addressed_accepts_count() const { return addressed_accepts_.size(); }
  void Record(const Connection& conn, const AddressedAccept& accept);
  void Forget(const Connection& conn) {
    if (!records_.empty()) records_.erase(conn.slot());
  }
  // The peer's address while the connection speaks HTTP (and at accept); nullopt when it is
  // not an IPv4/IPv6 peer or no longer known (upgraded).
  std::optional<IpAddress> Peer(const Connection& conn) const;
  // Shard::PeerAddress's contract: Peer() as text ("" when unknown), given at once.
  void Lookup(const Connection& conn, const std::function<void(std::string)>& done) const;
  // Peer() as text, for the access log.
  std::string Immediate(const Connection& conn) const;

 private:
  struct Kept {  // An address kept from accept until the upgrade or the close.
    uint32_t generation;
    IpAddress address;
  };

  Source source_ = Source::kGetpeername;
  std::vector<AddressedAccept> addressed_accepts_;  // Only with kRecordedAtAccept.
  std::unordered_map<uint32_t, Kept> records_;      // By slot; HTTP connections only.
};

}  // namespace ringcast
