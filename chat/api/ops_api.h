// OpsApi: the operator routes of one shard (docs/cluster.md, "Operating a cluster"):
//   GET /ready        whether this node can serve: its store and, in cluster mode, Redis
//                     reachable and its registration current (200 or 503, for a load balancer
//                     or an orchestrator; GET /health stays the cheap liveness check);
//   GET /api/cluster  the live nodes of the cluster with their figures, for a bearer of
//                     --admin-token.
//
// Owner: its shard's thread (one per ChatShard).
#pragma once

#include <string_view>

#include "core/net/http_exchange.h"

namespace ringcast {
class Shard;
}

namespace ringcast::chat {

class ChatService;

class OpsApi {
 public:
  OpsApi(Shard& shard, ChatService& service);

  // The routes (chat/api/http_routes.cc): GET and HEAD /ready and /api/cluster.
  void HandleReady(HttpExchange& exchange);
  void HandleCluster(HttpExchange& exchange);
  // A deferred request's JSON answer (false when its connection has gone).
  bool Answer(const DeferredHttp& deferred, int status, std::string_view json);

 private:
  Shard& shard_;
  ChatService& service_;
};

}  // namespace ringcast::chat
