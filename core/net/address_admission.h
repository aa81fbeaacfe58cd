// AddressAdmission: --max-conns-per-ip, counted at accept for every connection, whatever it is
// about to become (an HTTP request, an SSE stream, a file download, /ws, STOMP, /echo, /raw/, a
// TLS handshake), so that one address cannot take every slot of --max-connections and leave a
// bystander's /ws or GET /health refused.
//
// Owner: the shard's ConnectionTable, on the shard's thread. The key is the TCP peer's
// IpAddress::LimitKey (IPv6 by --ipv6-prefix). Each key has one owner shard (its hash modulo the
// shards) that holds the node's count for it; shards share nothing mutable, so the accepting
// shard asks the owner by mail (a Mail's two words carry the key: nothing is allocated) and the
// owner answers the same way, as the chat's per-address limits do. Until the answer the
// connection reads nothing (its receive is not armed, its TLS session not made), so an address
// past its limit costs an accept, two mails and a close: no byte parsed, no handshake. A refused
// cleartext connection is answered 429 and closed; a TLS one is closed at once (no answer can
// be read without the handshake it is refused). Either way it is logged (rate-limited) and
// counted (ringcast_connections_refused_total{reason="per_address"}), and its slot is freed.
//
// Not counted here: a connection from a --trusted-proxies peer. A proxy's connections carry
// many clients, whose address is known only from each request's head; the chat counts its
// sessions (/ws, STOMP, SSE) per forwarded address (chat/api/transport_routes.cc), and the proxy is
// where other routes are limited per client (deploy/nginx/ringcast.conf).
//
// Memory: per slot, the key and its state (18 bytes, beside the slot tables); per owned key with
// connections, a map node. Both bounded by --max-connections.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/config.h"
#include "core/metrics/shard_stats.h"
#include "core/net/client_address.h"
#include "core/net/connection.h"
#include "core/runtime/mailbox.h"

namespace ringcast {

class ConnectionTable;
class Reactor;

class AddressAdmission {
 public:
  AddressAdmission(Reactor& reactor, ConnectionTable& table, const Config& config,
                   ShardStats& stats);
  AddressAdmission(const AddressAdmission&) = delete;
  AddressAdmission& operator=(const AddressAdmission&) = delete;

  // A connection just accepted (no receive armed yet), from `peer` (nullopt: unknown, which
  // counts as one shared address: the limit fails closed). Ends, now or when the owner shard
  // answers, in the table's Admitted(conn) or Refuse(conn), unless the connection has closed
  // meanwhile.
  void Admit(Connection& conn, const std::optional<IpAddress>& peer, bool tls);
  // The slot of `conn` is being freed: its count, if it has one, is given back.
  void Release(const Connection& conn);
  // Whether `conn` came in on the TLS listener (its session is made once it is admitted).
  bool tls(const Connection& conn) const { return held_[conn.slot()].tls; }

 private:
  enum class State : uint8_t { kNone, kAsking, kCounted };
  struct Held {  // By slot.
    IpAddress key;
    State state = State::kNone;
    bool tls = false;
  };

  uint32_t OwnerOf(const IpAddress& key) const;
  bool TryCount(const IpAddress& key);  // On the owner.
  void Uncount(const IpAddress& key);   // On the owner.
  // The owner's answer for the connection in `slot` of `generation` (this shard's).
  void Decide(uint32_t slot, uint32_t generation, const IpAddress& key, bool admitted);
  // Gives a count back to its owner, wherever that is.
  void GiveBack(const IpAddress& key);

  // Mail: the key in a and b, the asking connection packed into ptr.
  static Mail KeyMail(void (*run)(Shard&, const Mail&), const IpAddress& key, uint64_t asker = 0);
  static IpAddress KeyOf(const Mail& mail);
  // The asking connection, in a mail's ptr: origin shard (8 bits, --threads <= 64), slot (24:
  // --max-connections <= 2^20) and generation (24).
  static uint64_t PackAsker(uint32_t shard, uint32_t slot, uint32_t generation) {
    return uint64_t{shard} << 48 | uint64_t{slot & 0xFFFFFF} << 24 | (generation & 0xFFFFFF);
  }
  static void AskOwner(Shard& owner, const Mail& mail);
  static void OnAdmitted(Shard& origin, const Mail& mail);
  static void OnRefused(Shard& origin, const Mail& mail);
  static void OnGiveBack(Shard& owner, const Mail& mail);
  static AddressAdmission& Of(Shard& shard);

  Reactor& reactor_;
  ConnectionTable& table_;
  const Config& config_;
  ShardStats& stats_;
  std::vector<Held> held_;
  std::unordered_map<IpAddress, uint32_t, IpAddressHash> counts_;  // The keys this shard owns.
};

}  // namespace ringcast
