// Shard: who is on the other end of a connection (the per-address login limit needs it).
//
// A plain descriptor answers getpeername. A direct descriptor (the default) has no fd the
// process could ask, so there are two ways, chosen per shard at setup:
//   - IORING_OP_FIXED_FD_INSTALL (Linux 6.8) lends a plain fd for one getpeername, closed at
//     once. Costs nothing until someone logs in, so it is used where the kernel has it.
//   - Elsewhere (Debian 12's 6.1, or --no-fixed-fd-install), the shard accepts with
//     kAddressedAccepts single-shot accepts in flight instead of one multishot accept, each with
//     its own sockaddr buffer (a multishot accept would write every connection's address into
//     the same buffer), and keeps the address of each connection that still speaks HTTP in
//     `http_peers_` (about 60 bytes with the map node), dropped at the WebSocket upgrade or the
//     close. An idle WebSocket connection, the case the memory budget is about
//     (docs/architecture.md, "Memory per connection"), therefore costs nothing more; only
//     connections in their HTTP phase do. The price is one submission per accepted connection
//     instead of one per many.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/runtime/shard.h"

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

}  // namespace

// "" when the socket has no IPv4/IPv6 peer (or getpeername fails).
std::string Shard::PeerAddressOf(int fd) {
  sockaddr_storage peer{};
  socklen_t size = sizeof(peer);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &size) != 0) return {};
  if (peer.ss_family == AF_INET) {
    return FormatAddress(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr);
  }
  return FormatAddress(peer.ss_family, &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr);
}

void Shard::ChoosePeerSource() {
  if (!config_.direct_descriptors) {
    peer_source_ = PeerSource::kGetpeername;
  } else if (config_.fixed_fd_install && ring_.features().fixed_fd_install &&
             config_.access_log.empty()) {
    // The access log wants every client's address at once, which recording at accept gives.
    peer_source_ = PeerSource::kFixedFdInstall;
  } else {
    peer_source_ = PeerSource::kRecordedAtAccept;
    addressed_accepts_.assign(kAddressedAccepts, AddressedAccept{});
  }
}

const char* Shard::peer_source_name() const {
  switch (peer_source_) {
    case PeerSource::kGetpeername:
      return "by getpeername (plain descriptors)";
    case PeerSource::kFixedFdInstall:
      return "by FIXED_FD_INSTALL";
    case PeerSource::kRecordedAtAccept:
      return "recorded at accept (no FIXED_FD_INSTALL, or --no-fixed-fd-install)";
  }
  return "?";
}

uint32_t Shard::AcceptsWanted() const {
  return addressed_accepts_.empty() ? 1 : static_cast<uint32_t>(addressed_accepts_.size());
}

void Shard::ArmAddressedAccept(uint32_t index) {
  AddressedAccept& accept = addressed_accepts_[index];
  accept.size = sizeof(accept.address);
  io_uring_sqe* sqe = ring_.GetSqe();
  // Single-shot accept (5.5) into a kernel-chosen free slot of the fixed file table (5.19).
  // liburing 2.3 stores file_index + 1 without special-casing IORING_FILE_INDEX_ALLOC (later
  // versions do), so ALLOC - 1 is what makes the field IORING_FILE_INDEX_ALLOC.
  io_uring_prep_accept_direct(sqe, listen_fd_, reinterpret_cast<sockaddr*>(&accept.address),
                              &accept.size, 0, IORING_FILE_INDEX_ALLOC - 1);
  io_uring_sqe_set_data64(sqe, Tag(Op::kAccept, index));
  accept.armed = true;
  ++accepts_armed_;
}

void Shard::RecordPeer(Connection& conn, const AddressedAccept& accept) {
  PeerRecord record{conn.generation_, accept.address.ss_family, {}};
  if (record.family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(accept.address).sin_addr;
    static_assert(sizeof(in) <= sizeof(record.bytes));
    std::memcpy(record.bytes, &in, sizeof(in));
  } else if (record.family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(accept.address).sin6_addr;
    static_assert(sizeof(in6) == sizeof(record.bytes));
    std::memcpy(record.bytes, &in6, sizeof(in6));
  } else {
    return;  // Not an IP peer: PeerAddress answers "".
  }
  http_peers_[conn.slot_] = record;
}

void Shard::ForgetPeer(Connection& conn) {
  if (!http_peers_.empty()) http_peers_.erase(conn.slot_);
}

std::string Shard::ImmediatePeerAddress(Connection& conn) {
  std::string address;
  if (peer_source_ != PeerSource::kFixedFdInstall) {
    PeerAddress(conn, [&address](std::string found) { address = std::move(found); });
  }
  return address;
}

void Shard::PeerAddress(Connection& conn, std::function<void(std::string)> done) {
  switch (peer_source_) {
    case PeerSource::kGetpeername:
      return done(PeerAddressOf(conn.fd_));
    case PeerSource::kRecordedAtAccept: {
      auto it = http_peers_.find(conn.slot_);
      if (it == http_peers_.end() || it->second.generation != conn.generation_) return done({});
      return done(FormatAddress(it->second.family, it->second.bytes));
    }
    case PeerSource::kFixedFdInstall:
      break;
  }
  uint64_t tag = Tag(Op::kInstallFd, conn.slot_, conn.generation_);
  io_uring_sqe* sqe = ring_.GetSqe();
  io_uring_prep_rw(kOpFixedFdInstall, sqe, conn.fd_, nullptr, 0, 0);
  sqe->flags |= IOSQE_FIXED_FILE;
  sqe->rw_flags = 0;  // install_fd_flags: the new fd is O_CLOEXEC.
  io_uring_sqe_set_data64(sqe, tag);
  peer_queries_[tag] = PeerQuery{conn.id(), std::move(done)};
}

void Shard::OnInstalledFd(uint64_t tag, int32_t result) {
  auto query = peer_queries_.extract(tag);
  std::string address;
  if (result >= 0) {
    address = PeerAddressOf(result);
    close(result);
  } else if (WarnAllowed()) {
    RC_LOG(kWarn, "shard %u: cannot learn a peer address (FIXED_FD_INSTALL: %s)", id_,
           strerror(-result));
  }
  // Only if the connection is still the one that asked.
  if (!query.empty() && Find(query.mapped().conn) != nullptr) query.mapped().done(address);
}

}  // namespace ringcast
