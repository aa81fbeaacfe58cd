#include "core/net/address_admission.h"

#include <cstring>
#include <string>

#include "core/log.h"
#include "core/net/connection_table.h"
#include "core/runtime/reactor.h"
#include "core/runtime/shard.h"

namespace ringcast {
namespace {

struct Asker {
  uint32_t shard;
  uint32_t slot;
  uint32_t generation;
};

Asker UnpackAsker(const Mail& mail) {
  const auto packed = reinterpret_cast<uintptr_t>(mail.ptr);
  return {uint32_t(packed >> 48), uint32_t(packed >> 24) & 0xFFFFFF, uint32_t(packed) & 0xFFFFFF};
}

}  // namespace

AddressAdmission::AddressAdmission(Reactor& reactor, ConnectionTable& table, const Config& config,
                                   ShardStats& stats)
    : reactor_(reactor), table_(table), config_(config), stats_(stats) {
  held_.reserve(config.max_connections);  // Address space, as for the table's slots.
}

void AddressAdmission::Admit(Connection& conn, const std::optional<IpAddress>& peer, bool tls) {
  const uint32_t slot = conn.slot();
  if (held_.size() <= slot) held_.resize(slot + 1);
  Held& held = held_[slot];
  held = Held{.tls = tls};
  if (peer && config_.trusted_proxies.Contains(*peer)) return table_.Admitted(conn);
  // An address the server cannot learn (never expected on TCP) is the unspecified address: one
  // count that all such connections share.
  held.key = peer ? peer->LimitKey(config_.ipv6_prefix) : IpAddress{};
  held.state = State::kAsking;
  const uint32_t owner = OwnerOf(held.key);
  if (owner == reactor_.id()) {
    return Decide(slot, conn.generation(), held.key, TryCount(held.key));
  }
  const Mail ask = KeyMail(&AddressAdmission::AskOwner, held.key,
                           PackAsker(reactor_.id(), slot, conn.generation()));
  // The owner --max-mail-backlog behind: refused, as it cannot be counted.
  if (!reactor_.Post(owner, ask)) Decide(slot, conn.generation(), held.key, false);
}

void AddressAdmission::Release(const Connection& conn) {
  if (conn.slot() >= held_.size()) return;
  Held& held = held_[conn.slot()];
  if (held.state == State::kCounted) GiveBack(held.key);
  // An answer still to come finds the connection gone (Decide) and gives its count back then.
  held.state = State::kNone;
}

void AddressAdmission::Decide(uint32_t slot, uint32_t generation, const IpAddress& key,
                              bool admitted) {
  Connection* conn = table_.Find(ConnId{reactor_.id(), slot, generation});
  if (conn == nullptr || held_[slot].state != State::kAsking) {
    // Closed while the owner was asked (its timer, the shutdown): nothing holds the count.
    if (admitted) GiveBack(key);
    return;
  }
  if (admitted) {
    held_[slot].state = State::kCounted;
    return table_.Admitted(*conn);
  }
  held_[slot].state = State::kNone;
  ++stats_.refused_per_address;
  if (reactor_.WarnAllowed()) {
    std::string who = key.ToString();
    if (!key.is_v4()) {  // Appended piece by piece: GCC 12 at -O3 misjudges "/" + string.
      who.push_back('/');
      who.append(std::to_string(config_.ipv6_prefix));
    }
    RC_LOG(kWarn, "shard %u: refused a connection from %s: --max-conns-per-ip (%u) reached",
           reactor_.id(), who.c_str(), config_.max_conns_per_ip);
  }
  table_.Refuse(*conn);
}

uint32_t AddressAdmission::OwnerOf(const IpAddress& key) const {
  return uint32_t(IpAddressHash{}(key) % reactor_.shard_count());
}

bool AddressAdmission::TryCount(const IpAddress& key) {
  uint32_t& count = counts_[key];
  if (count >= config_.max_conns_per_ip) return false;  // max_conns_per_ip >= 1: not a new key.
  ++count;
  return true;
}

void AddressAdmission::Uncount(const IpAddress& key) {
  auto it = counts_.find(key);
  if (it == counts_.end()) return;
  if (--it->second == 0) counts_.erase(it);
}

void AddressAdmission::GiveBack(const IpAddress& key) {
  const uint32_t owner = OwnerOf(key);
  if (owner == reactor_.id()) return Uncount(key);
  if (!reactor_.Post(owner, KeyMail(&AddressAdmission::OnGiveBack, key))) {
    // Only an owner that has stopped draining its mail gets here; the address keeps one
    // connection too many until the restart.
    RC_LOG(kError,
           "shard %u: a closed connection's --max-conns-per-ip count was not given back "
           "(shard %u is --max-mail-backlog behind)",
           reactor_.id(), owner);
  }
}

Mail AddressAdmission::KeyMail(void (*run)(Shard&, const Mail&), const IpAddress& key,
                               uint64_t asker) {
  Mail mail{run, reinterpret_cast<void*>(uintptr_t{asker}), 0, 0};
  static_assert(sizeof(key.bytes) == sizeof(mail.a) + sizeof(mail.b));
  std::memcpy(&mail.a, key.bytes.data(), sizeof(mail.a));
  std::memcpy(&mail.b, key.bytes.data() + sizeof(mail.a), sizeof(mail.b));
  return mail;
}

IpAddress AddressAdmission::KeyOf(const Mail& mail) {
  IpAddress key;
  std::memcpy(key.bytes.data(), &mail.a, sizeof(mail.a));
  std::memcpy(key.bytes.data() + sizeof(mail.a), &mail.b, sizeof(mail.b));
  return key;
}

AddressAdmission& AddressAdmission::Of(Shard& shard) { return shard.connections().admission(); }

void AddressAdmission::AskOwner(Shard& owner, const Mail& mail) {
  AddressAdmission& self = Of(owner);
  const IpAddress key = KeyOf(mail);
  const bool admitted = self.TryCount(key);
  const Mail answer =
      KeyMail(admitted ? &AddressAdmission::OnAdmitted : &AddressAdmission::OnRefused, key,
              reinterpret_cast<uintptr_t>(mail.ptr));
  // Not delivered (the asker --max-mail-backlog behind): its connection, never admitted, ends at
  // --handshake-timeout.
  if (!owner.Post(UnpackAsker(mail).shard, answer) && admitted) self.Uncount(key);
}

void AddressAdmission::OnAdmitted(Shard& origin, const Mail& mail) {
  const Asker asker = UnpackAsker(mail);
  Of(origin).Decide(asker.slot, asker.generation, KeyOf(mail), true);
}

void AddressAdmission::OnRefused(Shard& origin, const Mail& mail) {
  const Asker asker = UnpackAsker(mail);
  Of(origin).Decide(asker.slot, asker.generation, KeyOf(mail), false);
}

void AddressAdmission::OnGiveBack(Shard& owner, const Mail& mail) {
  Of(owner).Uncount(KeyOf(mail));
}

}  // namespace ringcast
