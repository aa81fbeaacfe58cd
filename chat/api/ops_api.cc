#include "chat/api/ops_api.h"

#include <openssl/crypto.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_shard.h"
#include "chat/ops/routes.h"
#include "chat/service.h"
#include "core/cluster/cluster_node.h"
#include "core/runtime/shard.h"
#include "proto/json_writer.h"

namespace ringcast::chat {
namespace {

constexpr std::string_view kJson = "application/json";

// Whether the request bears `token` (compared in constant time: it guards operator data).
bool BearsToken(const http::Request& request, const std::string& token) {
  constexpr std::string_view kBearer = "Bearer ";
  std::string_view header = request.Find("Authorization");
  if (header.data() == nullptr || header.size() != kBearer.size() + token.size() ||
      !http::EqualsIgnoreCase(header.substr(0, kBearer.size()), kBearer)) {
    return false;
  }
  return CRYPTO_memcmp(header.data() + kBearer.size(), token.data(), token.size()) == 0;
}

}  // namespace

OpsApi::OpsApi(Shard& shard, ChatService& service) : shard_(shard), service_(service) {}

bool OpsApi::Answer(const DeferredHttp& deferred, int status, std::string_view json) {
  return shard_.AnswerDeferred(deferred, status, kJson, json);
}

void OpsApi::HandleReady(HttpExchange& exchange) {
  const bool store_ok = service_.store().Healthy();
  cluster::ClusterNode* node = shard_.cluster();
  const bool redis_ok = node == nullptr || node->ready();
  JsonWriter body;
  body.BeginObject()
      .Field("ready", store_ok && redis_ok)
      .Field("store", store_ok ? "ok" : "unreachable");
  if (node != nullptr) {
    body.Field("node", node->node_id())
        .Field("redis", !node->bus().stats().connected ? "unreachable"
                        : redis_ok                     ? "ok"
                                                       : "not registered");
  }
  body.EndObject();
  exchange.Respond(store_ok && redis_ok ? 200 : 503, kJson, body.str());
}

void OpsApi::HandleCluster(HttpExchange& exchange) {
  const std::string& token = service_.config().admin_token;
  if (token.empty()) {
    return exchange.RespondError(403, "operator routes are off: no --admin-token configured");
  }
  if (!BearsToken(exchange.request(), token)) {
    return exchange.RespondError(401, "needs Authorization: Bearer <--admin-token>",
                                 "WWW-Authenticate: Bearer\r\n");
  }
  cluster::ClusterNode* node = shard_.cluster();
  if (node == nullptr) {
    return exchange.Respond(200, kJson, R"({"cluster":false,"nodes":[]})");
  }
  DeferredHttp deferred = exchange.Defer();
  node->registry().List([&service = service_, origin = shard_.id(), deferred,
                         self = node->node_id()](std::optional<std::vector<std::string>> nodes) {
    auto answer = std::make_shared<std::pair<int, std::string>>();
    if (!nodes) {
      answer->first = 503;
      answer->second = R"({"error":"Redis did not answer"})";
    } else {
      JsonWriter body;
      body.BeginObject().Field("cluster", true).Field("node", self).Key("nodes").BeginArray();
      for (const std::string& entry : *nodes) body.Raw(entry);
      body.EndArray().EndObject();
      answer->first = 200;
      answer->second = body.str();
    }
    service.PostOrHold(origin, [deferred, answer](ChatShard& back) {
      back.ops_api().Answer(deferred, answer->first, answer->second);
    });
  });
}

std::span<const HttpRoute> OperatorRoutes() {
  using http::Method;
  constexpr auto kReady = [](ChatShard& chat, HttpExchange& exchange, const RouteCall&) {
    chat.ops_api().HandleReady(exchange);
  };
  constexpr auto kCluster = [](ChatShard& chat, HttpExchange& exchange, const RouteCall&) {
    chat.ops_api().HandleCluster(exchange);
  };
  // Each checks its caller: /ready answers anyone, /api/cluster a bearer of --admin-token.
  static constexpr HttpRoute kRows[] = {
      {Method::kGet, "/ready", RouteAccess::kOwn, kReady},
      {Method::kHead, "/ready", RouteAccess::kOwn, kReady},
      {Method::kGet, "/api/cluster", RouteAccess::kOwn, kCluster},
      {Method::kHead, "/api/cluster", RouteAccess::kOwn, kCluster},
  };
  return kRows;
}

}  // namespace ringcast::chat
