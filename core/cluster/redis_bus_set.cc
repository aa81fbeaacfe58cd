#include "core/cluster/redis_bus_set.h"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace ringcast::cluster {

std::optional<std::vector<RedisAddress>> ParseRedisList(std::string_view value,
                                                        std::string* error) {
  std::vector<RedisAddress> out;
  std::vector<std::string> names;
  while (!value.empty()) {
    size_t end = std::string_view::npos;
    for (size_t comma = value.find(','); comma != std::string_view::npos;
         comma = value.find(',', comma + 1)) {
      std::string_view next = value.substr(comma + 1);
      if (next.starts_with("redis://") || next.starts_with("redis+sentinel://")) {
        end = comma;
        break;
      }
    }
    auto address = RedisAddress::Parse(value.substr(0, end), error);
    if (!address) return std::nullopt;
    std::string name = address->sentinel() ? "sentinel:" + address->master_name
                                           : RedisEndpoint{address->host, address->port}.ToString();
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      *error = "the Redis list names " + name + " twice";
      return std::nullopt;
    }
    names.push_back(std::move(name));
    out.push_back(std::move(*address));
    value = end == std::string_view::npos ? std::string_view() : value.substr(end + 1);
  }
  if (out.empty()) {
    *error = "no Redis URL";
    return std::nullopt;
  }
  return out;
}

size_t InstanceOf(std::string_view channel, size_t count) {
  if (count <= 1) return 0;
  // FNV-1a (64 bits): fixed forever, since every node of a cluster must agree.
  uint64_t hash = 14695981039346656037ull;
  for (char c : channel) {
    hash ^= uint8_t(c);
    hash *= 1099511628211ull;
  }
  return size_t(hash % count);
}

namespace {
// Set on the bus threads (by their first callback): a Call's reply refused at once on a shard's
// thread must not wait for the listener's mutex (nothing blocks a shard).
thread_local bool t_bus_thread = false;
}  // namespace

// One instance's listener: hands the bus's callbacks to the set's listener, one at a time.
class RedisBusSet::Relay final : public RedisBusListener {
 public:
  Relay(RedisBusListener& listener, std::recursive_mutex& mutex, bool first, bool serialize)
      : listener_(listener), mutex_(mutex), first_(first), serialize_(serialize) {}

  void OnPublication(std::string_view channel, std::string_view payload) override {
    Locked([&] { listener_.OnPublication(channel, payload); });
  }
  void OnMaybeMissed(std::string_view channel) override {
    Locked([&] { listener_.OnMaybeMissed(channel); });
  }
  void OnConnected() override {
    t_bus_thread = true;
    if (first_) Locked([&] { listener_.OnConnected(); });
  }
  void OnTick() override {
    t_bus_thread = true;
    if (first_) Locked([&] { listener_.OnTick(); });
  }

 private:
  template <typename F>
  void Locked(F&& f) {
    t_bus_thread = true;
    if (!serialize_) return f();
    std::lock_guard lock(mutex_);
    f();
  }

  RedisBusListener& listener_;
  std::recursive_mutex& mutex_;
  const bool first_;
  const bool serialize_;  // One instance: one thread already.
};

std::unique_ptr<RedisBusSet> RedisBusSet::Start(const std::vector<RedisAddress>& addresses,
                                                RedisBusOptions options, RedisBusListener& listener,
                                                std::string* error) {
  std::unique_ptr<RedisBusSet> set(new RedisBusSet());
  const bool serialize = addresses.size() > 1;
  for (size_t i = 0; i < addresses.size(); ++i) {
    const RedisAddress& address = addresses[i];
    set->names_.push_back(address.sentinel()
                              ? "sentinel:" + address.master_name
                              : RedisEndpoint{address.host, address.port}.ToString());
    set->relays_.push_back(
        std::make_unique<Relay>(listener, set->listener_mutex_, i == 0, serialize));
    RedisBusOptions one = options;
    one.address = address;
    auto bus = RedisBus::Start(std::move(one), *set->relays_.back(), error);
    if (!bus) return nullptr;
    set->buses_.push_back(std::move(bus));
  }
  return set;
}

RedisBusSet::~RedisBusSet() { Stop(std::chrono::milliseconds(0)); }

void RedisBusSet::Publish(std::string channel, std::string_view payload) {
  RedisBus& bus = BusOf(channel);
  bus.Publish(std::move(channel), payload);
}

void RedisBusSet::Subscribe(std::string_view channel) { BusOf(channel).Subscribe(channel); }

void RedisBusSet::Unsubscribe(std::string_view channel) { BusOf(channel).Unsubscribe(channel); }

void RedisBusSet::Call(std::vector<std::string> args, RedisCallback done) {
  if (buses_.size() == 1) return buses_[0]->Call(std::move(args), std::move(done));
  // Its reply comes on the first bus's thread: one at a time with the listener's callbacks.
  buses_[0]->Call(std::move(args), [this, done = std::move(done)](RedisReply reply) {
    if (!t_bus_thread) return done(std::move(reply));  // Refused at once, on the caller's.
    std::lock_guard lock(listener_mutex_);
    done(std::move(reply));
  });
}

void RedisBusSet::Stop(std::chrono::milliseconds flush_limit) {
  for (auto& bus : buses_) bus->Stop(flush_limit);
}

RedisBusStats RedisBusSet::stats() const {
  RedisBusStats sum;
  sum.connected = true;
  for (size_t i = 0; i < buses_.size(); ++i) {
    const RedisBusStats one = buses_[i]->stats();
    sum.published += one.published;
    sum.writes += one.writes;
    sum.received += one.received;
    sum.dropped += one.dropped;
    sum.unconfirmed += one.unconfirmed;
    sum.reconnects += one.reconnects;
    sum.subscribed += one.subscribed;
    sum.connected = sum.connected && one.connected;
    sum.calls += one.calls;
    sum.calls_failed += one.calls_failed;
    sum.failovers += one.failovers;
    if (i == 0) {
      sum.master = one.master;
      sum.sentinel_connected = one.sentinel_connected;
    }
  }
  return sum;
}

}  // namespace ringcast::cluster
