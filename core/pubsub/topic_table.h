// TopicTable: this shard's part of the publish/subscribe table.
//
// Owner: one shard. Each shard knows its own subscribers per topic and, for every topic, which
// other shards have at least one subscriber (their "interest", replicated by mail whenever a
// shard's local count for a topic goes 0→1 or 1→0). A publish therefore costs one local pass
// over the subscribers here plus one mail per interested shard, never one per remote recipient,
// and the frame is the same SharedFrame everywhere.
//
// Ordering: messages published by one connection reach each subscriber in publish order (local
// delivery is immediate; mail between a pair of shards is FIFO).
//
// Cluster mode: while any shard has a subscriber of a topic, the node follows it on the Redis
// bus (core/cluster/cluster_node.h), and publications from other nodes enter through
// Publish() on one shard per topic.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/net/shared_frame.h"

namespace ringcast {

class Connection;
class Shard;
struct Mail;

class TopicTable {
 public:
  explicit TopicTable(Shard& shard) : shard_(shard) {}
  ~TopicTable();
  TopicTable(const TopicTable&) = delete;
  TopicTable& operator=(const TopicTable&) = delete;

  // `token` is caller-owned storage that identifies the subscription; the table rewrites it as
  // subscribers move, and the caller passes it back to Unsubscribe.
  void Subscribe(std::string_view topic, Connection* conn, uint64_t* token);
  void Unsubscribe(uint64_t* token);

  // Queues `frame` on every subscriber of `topic` on every shard. Takes over one reference.
  void Publish(std::string_view topic, SharedFrame* frame);
  // The same, for the topic a local subscription `token` belongs to.
  void PublishToTopicOf(uint64_t token, SharedFrame* frame);
  // The topic a local subscription `token` belongs to (valid while subscribed).
  std::string_view TopicOf(uint64_t token) const;

  size_t local_subscribers(std::string_view topic) const;

 private:
  struct Subscriber {
    Connection* conn;
    uint64_t* token;
  };
  struct Topic {
    std::string name;
    uint32_t id;
    std::vector<Subscriber> subscribers;
    uint64_t remote_interest = 0;  // Bit per shard.
  };
  struct Publication;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  Topic* FindOrCreate(std::string_view name);
  void MaybeErase(Topic* topic);
  void DeliverLocal(Topic& topic, SharedFrame* frame);  // Consumes one reference.
  void AnnounceInterest(const std::string& name, bool interested);
  static void OnInterest(Shard& shard, const Mail& mail);
  static void OnPublication(Shard& shard, const Mail& mail);

  Shard& shard_;
  std::unordered_map<std::string, std::unique_ptr<Topic>, Hash, std::equal_to<>> topics_;
  std::vector<Topic*> by_id_;  // Token → topic; freed ids are reused.
  std::vector<uint32_t> free_ids_;
};

}  // namespace ringcast
