#include "core/net/peer_addresses.h"

#include <netinet/in.h>

#include <cstring>

namespace ringcast {
namespace {

// Enough for bursts of connections between two loop iterations; each re-arms as it completes.
constexpr uint32_t kAddressedAccepts = 16;

// nullopt unless `address` is an IPv4 or IPv6 socket address.
std::optional<IpAddress> FromSockaddr(const sockaddr_storage& address) {
  IpAddress ip;
  if (address.ss_family == AF_INET) {
    // Kept in its IPv4-mapped form (client_address.h).
    const auto& in = reinterpret_cast<const sockaddr_in&>(address).sin_addr;
    ip.bytes[10] = ip.bytes[11] = 0xff;
    std::memcpy(ip.bytes.data() + 12, &in, 4);
    return ip;
  }
  if (address.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(address).sin6_addr;
    static_assert(sizeof(in6) == sizeof(ip.bytes));
    std::memcpy(ip.bytes.data(), &in6, sizeof(in6));
    return ip;
  }
  return std::nullopt;
}

}  // namespace

void PeerAddresses::Choose(bool direct_descriptors, uint32_t listeners) {
  if (!direct_descriptors) {
    source_ = Source::kGetpeername;
  } else {
    source_ = Source::kRecordedAtAccept;
    addressed_accepts_.assign(kAddressedAccepts * listeners, AddressedAccept{});
  }
}

const char* PeerAddresses::source_name() const {
  static constexpr const char* kNames[] = {"by getpeername (plain descriptors)",
                                           "recorded at accept (direct descriptors)"};
  return kNames[static_cast<size_t>(source_)];
}

void PeerAddresses::Record(const Connection& conn, const AddressedAccept& accept) {
  std::optional<IpAddress> address = FromSockaddr(accept.address);
  if (!address) return;  // Not an IP peer: Peer() answers nullopt.
  records_[conn.slot()] = Kept{conn.generation(), *address};
}

std::optional<IpAddress> PeerAddresses::Peer(const Connection& conn) const {
  if (source_ == Source::kGetpeername) {
    sockaddr_storage peer{};
    socklen_t size = sizeof(peer);
    if (getpeername(conn.fd(), reinterpret_cast<sockaddr*>(&peer), &size) != 0) {
      return std::nullopt;
    }
    return FromSockaddr(peer);
  }
  auto it = records_.find(conn.slot());
  if (it == records_.end() || it->second.generation != conn.generation()) return std::nullopt;
  return it->second.address;
}

std::string PeerAddresses::Immediate(const Connection& conn) const {
  std::optional<IpAddress> address = Peer(conn);
  return address ? address->ToString() : std::string();
}

void PeerAddresses::Lookup(const Connection& conn,
                           const std::function<void(std::string)>& done) const {
  done(Immediate(conn));
}

}  // namespace ringcast
