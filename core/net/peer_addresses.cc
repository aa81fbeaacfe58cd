#include "core/net/peer_addresses.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/io/ring.h"
#include "core/log.h"
#include "core/net/connection_table.h"
#include "core/runtime/reactor.h"

namespace ringcast {
namespace {

// Enough for bursts of connections between two loop iterations; each re-arms as it completes.
constexpr uint32_t kAddressedAccepts = 16;

// "" unless `family` is AF_INET or AF_INET6.
std::string FormatAddress(sa_family_t family, const void* address) {
  char text[INET6_ADDRSTRLEN] = {};
  if ((family != AF_INET && family != AF_INET6) ||
      inet_ntop(family, address, text, sizeof(text)) == nullptr) {
    return {};
  }
  return text;
}

// "" when the socket has no IPv4/IPv6 peer (or getpeername fails).
std::string PeerAddressOf(int fd) {
  sockaddr_storage peer{};
  socklen_t size = sizeof(peer);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &size) != 0) return {};
  if (peer.ss_family == AF_INET) {
    return FormatAddress(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr);
  }
  return FormatAddress(peer.ss_family, &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr);
}

}  // namespace

PeerAddresses::PeerAddresses(Reactor& reactor, ConnectionTable& table)
    : reactor_(reactor), table_(table) {
  reactor_.Register(Op::kInstallFd, &PeerAddresses::OnInstalledFd, this);
}

void PeerAddresses::Choose(bool direct_descriptors, bool fixed_fd_install_allowed,
                           const RingFeatures& features, bool access_log, uint32_t listeners) {
  if (!direct_descriptors) {
    source_ = Source::kGetpeername;
  } else if (fixed_fd_install_allowed && features.fixed_fd_install && !access_log) {
    // The access log wants every client's address at once, which recording at accept gives.
    source_ = Source::kFixedFdInstall;
  } else {
    source_ = Source::kRecordedAtAccept;
    addressed_accepts_.assign(kAddressedAccepts * listeners, AddressedAccept{});
  }
}

const char* PeerAddresses::source_name() const {
  static constexpr const char* kNames[] = {
      "by getpeername (plain descriptors)", "by FIXED_FD_INSTALL",
      "recorded at accept (no FIXED_FD_INSTALL, or --no-fixed-fd-install)"};
  return kNames[static_cast<size_t>(source_)];
}

void PeerAddresses::Record(const Connection& conn, const AddressedAccept& accept) {
  Kept record{conn.generation(), accept.address.ss_family, {}};
  if (record.family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(accept.address).sin_addr;
    static_assert(sizeof(in) <= sizeof(record.bytes));
    std::memcpy(record.bytes, &in, sizeof(in));
  } else if (record.family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(accept.address).sin6_addr;
    static_assert(sizeof(in6) == sizeof(record.bytes));
    std::memcpy(record.bytes, &in6, sizeof(in6));
  } else {
    return;  // Not an IP peer: Lookup answers "".
  }
  records_[conn.slot()] = record;
}

std::string PeerAddresses::Immediate(Connection& conn) {
  std::string address;
  if (source_ != Source::kFixedFdInstall) {
    Lookup(conn, [&address](std::string found) { address = std::move(found); });
  }
  return address;
}

void PeerAddresses::Lookup(Connection& conn, std::function<void(std::string)> done) {
  switch (source_) {
    case Source::kGetpeername:
      return done(PeerAddressOf(conn.fd()));
    case Source::kRecordedAtAccept: {
      auto it = records_.find(conn.slot());
      if (it == records_.end() || it->second.generation != conn.generation()) return done({});
      return done(FormatAddress(it->second.family, it->second.bytes));
    }
    case Source::kFixedFdInstall:
      break;
  }
  uint64_t tag = MakeTag(Op::kInstallFd, conn.slot(), conn.generation());
  io_uring_sqe* sqe = reactor_.GetSqe();
  io_uring_prep_rw(kOpFixedFdInstall, sqe, conn.fd(), nullptr, 0, 0);
  sqe->flags |= IOSQE_FIXED_FILE;
  sqe->rw_flags = 0;  // install_fd_flags: the new fd is O_CLOEXEC.
  io_uring_sqe_set_data64(sqe, tag);
  queries_[tag] = Query{conn.id(), std::move(done)};
}

void PeerAddresses::OnInstalledFd(void* context, const io_uring_cqe& cqe) {
  auto& self = *static_cast<PeerAddresses*>(context);
  auto query = self.queries_.extract(cqe.user_data);
  std::string address;
  if (cqe.res >= 0) {
    address = PeerAddressOf(cqe.res);
    close(cqe.res);
  } else if (self.reactor_.WarnAllowed()) {
    RC_LOG(kWarn, "shard %u: cannot learn a peer address (FIXED_FD_INSTALL: %s)",
           self.reactor_.id(), strerror(-cqe.res));
  }
  // Only if the connection is still the one that asked.
  if (!query.empty() && self.table_.Find(query.mapped().conn) != nullptr) {
    query.mapped().done(address);
  }
}

}  // namespace ringcast
