#include "core/pubsub/topic_table.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/cluster/cluster_node.h"
#include "core/log.h"
#include "core/net/connection.h"
#include "core/pubsub/topic_interest.h"
#include "core/runtime/external_mail.h"
#include "core/runtime/fan_out.h"
#include "core/runtime/mailbox.h"
#include "core/runtime/shard.h"

namespace ringcast {

// One publish on its way to the other interested shards: the frame (one reference for all of them)
// and the topic name, shared by every target shard; the last target to deliver frees it.
struct TopicTable::Publication {
  std::atomic<uint32_t> refs;
  SharedFrame* frame;
  uint32_t name_size;
  char name[];  // NOLINT: flexible array member.

  // Refcount 1 (FanOut adds one per further target); takes over one reference to `frame`.
  static Publication* Create(std::string_view name, SharedFrame* frame) {
    void* memory = std::malloc(sizeof(Publication) + name.size());
    if (memory == nullptr) throw std::bad_alloc();
    auto* publication = new (memory) Publication{{1}, frame, uint32_t(name.size())};
    std::memcpy(publication->name, name.data(), name.size());
    return publication;
  }
  std::string_view topic() const { return {name, name_size}; }
  void AddRefs(uint32_t n) { refs.fetch_add(n, std::memory_order_relaxed); }
  void Release() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    frame->Release();
    this->~Publication();
    std::free(this);
  }
};

namespace {
uint64_t MakeToken(uint32_t topic_id, uint32_t index) { return uint64_t{topic_id} << 32 | index; }
}  // namespace

TopicTable::~TopicTable() = default;

TopicTable::Topic* TopicTable::FindOrCreate(std::string_view name) {
  auto it = topics_.find(name);
  if (it != topics_.end()) return it->second.get();
  uint32_t id;
  if (free_ids_.empty()) {
    id = static_cast<uint32_t>(by_id_.size());
    by_id_.push_back(nullptr);
  } else {
    id = free_ids_.back();
    free_ids_.pop_back();
  }
  auto topic = std::make_unique<Topic>();
  topic->name = std::string(name);
  topic->id = id;
  Topic* raw = topic.get();
  by_id_[id] = raw;
  topics_.emplace(raw->name, std::move(topic));
  return raw;
}

void TopicTable::MaybeErase(Topic* topic) {
  // Only the home keeps a record for the interest of other shards.
  const bool home = HomeOf(topic->name, shard_.shard_count()) == shard_.id();
  if (!topic->subscribers.empty() || (home && topic->interest != 0)) return;
  by_id_[topic->id] = nullptr;
  free_ids_.push_back(topic->id);
  topics_.erase(topic->name);
}

void TopicTable::Subscribe(std::string_view name, Connection* conn, uint64_t* token) {
  Topic* topic = FindOrCreate(name);
  *token = MakeToken(topic->id, static_cast<uint32_t>(topic->subscribers.size()));
  topic->subscribers.push_back({conn, token});
  if (topic->subscribers.size() == 1) AnnounceInterest(topic->name, true);
}

void TopicTable::Unsubscribe(uint64_t* token) {
  uint32_t id = static_cast<uint32_t>(*token >> 32);
  uint32_t index = static_cast<uint32_t>(*token);
  CHECK(id < by_id_.size() && by_id_[id] != nullptr);
  Topic* topic = by_id_[id];
  auto& subscribers = topic->subscribers;
  CHECK(index < subscribers.size() && subscribers[index].token == token);
  // Swap-remove: O(1), and the moved subscriber learns its new index.
  subscribers[index] = subscribers.back();
  *subscribers[index].token = MakeToken(id, index);
  subscribers.pop_back();
  if (subscribers.empty()) {
    std::string name = topic->name;
    MaybeErase(topic);  // Unless this is the home, which keeps it for the others' interest.
    AnnounceInterest(name, false);
  }
}

size_t TopicTable::local_subscribers(std::string_view name) const {
  auto it = topics_.find(name);
  return it == topics_.end() ? 0 : it->second->subscribers.size();
}

void TopicTable::Publish(std::string_view name, SharedFrame* frame) {
  auto it = topics_.find(name);
  if (it == topics_.end()) {
    frame->Release();
    return;
  }
  Topic& topic = *it->second;
  if (const ShardMask others = ShardMask(topic.interest).Without(ShardMask::Of(shard_.id()));
      !others.empty()) {
    frame->AddRefs(1);  // The publication's reference.
    auto* publication = Publication::Create(topic.name, frame);
    // A shard that refuses is far behind and misses this one (logged there).
    FanOut(others, publication, [&](uint32_t shard) {
      return shard_.Post(shard, Mail{&TopicTable::OnPublication, publication});
    });
  }
  DeliverLocal(topic, frame);
}

std::string_view TopicTable::TopicOf(uint64_t token) const {
  uint32_t id = static_cast<uint32_t>(token >> 32);
  CHECK(id < by_id_.size() && by_id_[id] != nullptr);
  return by_id_[id]->name;
}

void TopicTable::PublishToTopicOf(uint64_t token, SharedFrame* frame) {
  Publish(TopicOf(token), frame);
}

void TopicTable::DeliverLocal(Topic& topic, SharedFrame* frame) {
  size_t count = topic.subscribers.size();
  if (count == 0) {
    frame->Release();
    return;
  }
  // One atomic add for the whole shard; each queue then owns one reference. SendFrame never
  // unsubscribes synchronously (a cut-off connection is closed at the end of the iteration), so
  // the vector is stable during the loop.
  if (count > 1) frame->AddRefs(static_cast<uint32_t>(count - 1));
  for (size_t i = 0; i < count; ++i) topic.subscribers[i].conn->SendFrame(frame);
}

void TopicTable::AnnounceInterest(const std::string& name, bool interested) {
  const uint32_t home = HomeOf(name, shard_.shard_count());
  if (home == shard_.id()) return SetInterest(name, home, interested);
  auto owned = std::make_unique<std::string>(name);
  // Refused only when the home is far behind (logged); it then misses this change.
  if (shard_.Post(home,
                  Mail{&TopicTable::OnInterest, owned.get(), shard_.id(), interested ? 1u : 0u})) {
    (void)owned.release();
  }
}

void TopicTable::SetInterest(std::string_view name, uint32_t shard, bool interested) {
  const uint64_t bit = uint64_t{1} << shard;
  auto it = topics_.find(name);
  if (!interested && (it == topics_.end() || (it->second->interest & bit) == 0)) return;
  Topic* topic = interested ? FindOrCreate(name) : it->second.get();
  const uint64_t before = topic->interest;
  topic->interest = interested ? before | bit : before & ~bit;
  if (topic->interest == before) return;
  // Cluster mode: the bus's snapshot first (topic_interest.h says why), then the node follows
  // the topic while any shard has a subscriber.
  if (cluster::ClusterNode* node = shard_.cluster()) {
    const uint32_t slot = TopicInterest::SlotOf(topic->name, shard_.shard_count());
    if (interested) {
      node->raw_interest().Add(shard_.id(), slot, shard);
    } else {
      node->raw_interest().Remove(shard_.id(), slot, shard);
    }
    if (before == 0) node->FollowRaw(topic->name);
    if (topic->interest == 0) node->UnfollowRaw(topic->name);
  }
  // The interested shards publish straight to one another: each learns the new set.
  uint64_t told = topic->interest & ~(uint64_t{1} << shard_.id());
  for (uint32_t target = 0; told != 0; ++target, told >>= 1) {
    if ((told & 1) == 0) continue;
    auto owned = std::make_unique<std::string>(topic->name);
    // Refused only when that shard is far behind (logged); it then misses this change.
    if (shard_.Post(target, Mail{&TopicTable::OnInterestTold, owned.get(), topic->interest})) {
      (void)owned.release();
    }
  }
  MaybeErase(topic);
}

void TopicTable::OnInterest(Shard& shard, const Mail& mail) {
  std::unique_ptr<std::string> name(static_cast<std::string*>(mail.ptr));
  shard.topics().SetInterest(*name, static_cast<uint32_t>(mail.a), mail.b != 0);
}

void TopicTable::OnInterestTold(Shard& shard, const Mail& mail) {
  std::unique_ptr<std::string> name(static_cast<std::string*>(mail.ptr));
  TopicTable& table = shard.topics();
  auto it = table.topics_.find(*name);
  // Told after its last subscriber left: nothing to keep. A later subscription's answer
  // follows this one (the home's mail is FIFO).
  if (it == table.topics_.end() || it->second->subscribers.empty()) return;
  it->second->interest = mail.a;
}

void TopicTable::PublishFromBus(const TopicInterest& interest, ExternalMail& mail, uint32_t shards,
                                std::string_view topic, SharedFrame* frame) {
  const ShardMask targets(
      interest.Read(HomeOf(topic, shards), TopicInterest::SlotOf(topic, shards)));
  if (targets.empty()) {
    frame->Release();
    return;
  }
  auto* publication = Publication::Create(topic, frame);
  // Refused only by a shard that has stopped.
  FanOut(targets, publication, [&](uint32_t shard) {
    return mail.Post(shard, Mail{&TopicTable::OnPublication, publication}) == PushResult::kQueued;
  });
}

void TopicTable::OnPublication(Shard& shard, const Mail& mail) {
  auto* publication = static_cast<Publication*>(mail.ptr);
  TopicTable& table = shard.topics();
  auto it = table.topics_.find(publication->topic());
  if (it != table.topics_.end() && !it->second->subscribers.empty()) {
    publication->frame->AddRefs(1);
    table.DeliverLocal(*it->second, publication->frame);
  }
  publication->Release();
}

}  // namespace ringcast
