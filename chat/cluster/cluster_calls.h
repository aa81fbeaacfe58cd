// ClusterCalls: the calls' busy marks in Redis (cluster mode; docs/cluster.md, "Calls"), the
// cluster side of CallRegistry's "one call per user and per conversation":
//   rc:call:<key>         string  the call holding `key` ("user:<id>", "conv:<id>"), with an
//                                 expiry (kTtlMs) its holder refreshes every kRefreshMs
//   rc:call-node:<node>   set     the keys `node`'s calls hold, reaped when the node is found
//                                 dead, so that its users are free before the marks expire
// Each script takes or checks every key of a request at once: a reservation is all or none.
//
// Owner: ChatService (built with the ClusterLink). Calls from any shard thread; callbacks run
// on the bus thread (or at once when the bus refuses the call) and only post mail.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/cluster/cluster_node.h"

namespace ringcast::chat {

class ClusterCalls {
 public:
  static constexpr int64_t kTtlMs = 30'000;
  static constexpr int64_t kRefreshMs = 10'000;

  struct Answer {
    bool unavailable = false;  // Redis did not answer: nobody can tell who is busy.
    std::string busy_key;      // Set: held by `busy_call`, nothing reserved.
    std::string busy_call;
  };

  explicit ClusterCalls(cluster::ClusterNode& node);

  void Reserve(std::vector<std::string> keys, const std::string& call,
               std::function<void(Answer)> done);
  void Release(const std::vector<std::string>& keys, const std::string& call);
  void Refresh(const std::vector<std::string>& keys, const std::string& call);
  // The call holding `key` (empty: none, or Redis did not answer).
  void Find(const std::string& key, std::function<void(std::string call)> done);
  // The bus thread (ClusterPresence's watcher): the marks of `node`'s calls go.
  void OnNodeDead(std::string_view node);

 private:
  void Run(std::string_view script, const std::vector<std::string>& keys, const std::string& call,
           std::function<void(cluster::RedisReply)> done);

  cluster::ClusterNode& node_;
};

}  // namespace ringcast::chat
