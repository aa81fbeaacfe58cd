// TopicTable: this shard's part of the publish/subscribe table.
//
// Owner: one shard. Each shard knows its own subscribers per topic. A topic's interest (which
// shards have at least one subscriber) is held by its home shard, HomeOf(topic) (the topic's
// hash modulo the shards): a shard whose local count goes 0→1 or 1→0 tells the home only (one
// mail, none when it is the home), and the home tells the new interest to the interested
// shards only, never to every shard. A publish is delivered to the local subscribers at once
// and mailed to each other interested shard as this shard last heard from the home: one mail
// per interested shard, never one per remote recipient, and the frame is the same SharedFrame
// everywhere. docs/architecture.md, "Thread crossings", counts the hops.
//
// Ordering: messages published by one connection reach each subscriber in publish order (local
// delivery is immediate; mail between a pair of shards is FIFO). A new subscriber's shard is
// known to a publisher's shard once the home's word arrived there: before anything the new
// subscriber's shard sends afterwards when either of them is the home (always so with two
// shards: mail is drained before completions); with more shards, a publication within that
// hop may miss it.
//
// Cluster mode: while any shard has a subscriber of a topic, its home follows it on the Redis
// bus (core/cluster/cluster_node.h) and keeps the interest snapshot the bus reads
// (core/pubsub/topic_interest.h): a publication from another node goes from the bus straight
// to each shard that may have a subscriber (PublishFromBus), one mail each, none through the
// home.
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
class ExternalMail;
class Shard;
class TopicInterest;
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
  // Any thread that is not a shard (the Redis bus): `frame` to the subscribers of `topic` on
  // every shard `interest` says may have one, one mail each through `mail`. Takes over one
  // reference. Mail to one shard runs in the order posted, so one node's publications reach
  // each subscriber in order.
  static void PublishFromBus(const TopicInterest& interest, ExternalMail& mail, uint32_t shards,
                             std::string_view topic, SharedFrame* frame);
  // The shard that holds `topic`'s interest.
  static uint32_t HomeOf(std::string_view topic, uint32_t shards) {
    return static_cast<uint32_t>(std::hash<std::string_view>{}(topic) % shards);
  }
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
    // Bit per shard with a subscriber, this one too: kept by the home, which tells the
    // interested shards each change; elsewhere, as last told, while a local subscriber lasts.
    uint64_t interest = 0;
  };
  struct Publication;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  Topic* FindOrCreate(std::string_view name);
  void MaybeErase(Topic* topic);
  void DeliverLocal(Topic& topic, SharedFrame* frame);  // Consumes one reference.
  // This shard's first subscriber came or its last went: tells the home.
  void AnnounceInterest(const std::string& name, bool interested);
  // On the home: `shard`'s interest in `name` changed; the interested shards are told.
  void SetInterest(std::string_view name, uint32_t shard, bool interested);
  static void OnInterest(Shard& shard, const Mail& mail);
  static void OnInterestTold(Shard& shard, const Mail& mail);
  static void OnPublication(Shard& shard, const Mail& mail);

  Shard& shard_;
  std::unordered_map<std::string, std::unique_ptr<Topic>, Hash, std::equal_to<>> topics_;
  std::vector<Topic*> by_id_;  // Token → topic; freed ids are reused.
  std::vector<uint32_t> free_ids_;
};

}  // namespace ringcast
